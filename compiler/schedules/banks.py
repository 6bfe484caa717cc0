"""Workgroup memory is served by 32 banks of 4-byte words, and a warp's accesses to distinct
words of one bank queue one after another. The lanes of a warp often read one column of a
tile, a row apart: rows that span an odd number of words put them in different banks. Where
they read vectors, rows that span an odd number of vectors put consecutive rows' vectors side
by side.
"""

from __future__ import annotations

BANKS = 32
BANK_BYTES = 4


def row_padding(columns: int, itemsize: int, vector: int = 1) -> int:
    """Elements to add to a tile row of `columns` so that it spans an odd number of words, or
    of `vector`-wide vectors where those are wider than a word (and stays a whole number of
    them)."""
    if itemsize % (2 * BANK_BYTES) == 0:  # 8-byte elements: every row is an even count
        return 1
    unit = max(BANK_BYTES, vector * itemsize)
    pad = 0
    while (columns + pad) % vector or (columns + pad) * itemsize % (2 * unit) != unit:
        pad += 1
    return pad
