"""Plain-text tables for the benchmarks' reports."""

from __future__ import annotations


def table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """`rows` as aligned lines: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        indent
        + "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
