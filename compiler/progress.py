"""Progress lines for long steps: on stderr for the CLI, through mkdocs' log for the plugin."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def _stderr(message: str) -> None:
    print(f"[websd] {message}", file=sys.stderr, flush=True)


class Reporter:
    """Reports steps and the seconds each one took (kept in `seconds` for benchmarks)."""

    def __init__(self, sink: Callable[[str], None] = _stderr) -> None:
        self.sink = sink
        self.seconds: dict[str, float] = {}

    def __call__(self, message: str) -> None:
        self.sink(message)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self(f"{name}…")
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start
        self(f"{name}: {self.seconds[name]:.1f} s")
