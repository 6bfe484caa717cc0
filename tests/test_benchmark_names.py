"""The scripts of benchmarks/ run with their folder first on sys.path, so a script named
like an installed module hides it from every library they import: transformers imports
the `kernels` package when it is installed, and found benchmarks/kernels.py instead. (The
project's own modules may share a name: benchmarks/browser.py uses tests/browser.py.)"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from benchmark_scripts import BENCHMARKS


def test_no_benchmark_script_shadows_an_installed_module():
    shadowing = {
        script.name: spec.origin
        for script in BENCHMARKS.glob("*.py")
        if (spec := importlib.util.find_spec(script.stem)) is not None
        and not Path(spec.origin).is_relative_to(BENCHMARKS.parent)
    }
    assert not shadowing, f"rename these scripts: {shadowing}"
