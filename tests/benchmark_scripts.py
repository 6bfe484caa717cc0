"""The scripts of benchmarks/ as modules, for tests.

They are scripts, not a package: run from their folder, they import each other as siblings
(`from kernel_work import kernel_work`). Here the folder is on sys.path only while one
loads, so that none of its names (build, gpu) shadows another module for the rest of the
tests.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def load(name: str) -> ModuleType:
    """benchmarks/<name>.py, imported under its own name, as its siblings import it."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))
