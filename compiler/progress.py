"""Progress lines for long steps, on stderr so that stdout stays clean for scripts."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Reporter:
    """Prints `[websd] step…` and the seconds each step took; `quiet` silences it."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.seconds: dict[str, float] = {}

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[websd] {message}", file=self.stream, flush=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self(f"{name}…")
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start
        self(f"{name}: {self.seconds[name]:.1f} s")
