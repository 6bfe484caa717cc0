"""Compiling the translation units to bitcode, in parallel, with progress and readable failures."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from ..errors import ToolchainError
from .sources import FLAGS, INCLUDE_DIRS

STDERR_TAIL_LINES = 40


def compile_units(
    emcc: str, tree: Path, units: tuple[str, ...], out_dir: Path, say: Callable[[str], None]
) -> None:
    """Compile `tree`/web/emcc/<unit>.cc to `out_dir`/<unit>.bc, one per core at a time."""
    jobs = max(1, min(len(units), os.cpu_count() or 1))
    say(f"runtime bitcode: compiling {', '.join(units)} with emcc, {jobs} at a time")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_compile, emcc, tree, unit, out_dir): unit for unit in units}
        try:
            for future in as_completed(futures):
                seconds = future.result()
                say(f"runtime bitcode: {futures[future]}.bc built in {seconds:.0f} s")
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _compile(emcc: str, tree: Path, unit: str, out_dir: Path) -> float:
    command = [
        emcc,
        *FLAGS,
        *(f"-I{folder}" for folder in INCLUDE_DIRS),
        "-o",
        str(out_dir / f"{unit}.bc"),
        f"web/emcc/{unit}.cc",
    ]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=tree, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).splitlines()[-STDERR_TAIL_LINES:])
        raise ToolchainError(
            f"emcc failed to compile {unit}.bc (exit status {result.returncode}).\n"
            f"command, run in {tree}:\n  {shlex.join(command)}\n"
            f"last lines of its output:\n{tail}"
        )
    return time.perf_counter() - start
