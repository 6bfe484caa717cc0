"""runtime_ts's node tests, against fixtures that real torch and diffusers compute here.

The TypeScript RNG must match `torch.randn` bit for bit, and the schedulers diffusers' within
1e-5; tests/ts_fixtures.py writes the references, `npm test` compares.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from ts_fixtures import write_fixtures

RUNTIME_TS = Path(__file__).resolve().parent.parent / "runtime_ts"


def test_runtime_ts_against_torch_and_diffusers(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not on PATH: install Node.js 20 to test runtime_ts")
    if not (RUNTIME_TS / "node_modules").is_dir():
        pytest.fail(f"{RUNTIME_TS}/node_modules is missing: run `npm ci` in runtime_ts")
    write_fixtures(tmp_path)
    result = subprocess.run(
        [npm, "test"],
        cwd=RUNTIME_TS,
        env={**os.environ, "WEBSD_TS_FIXTURES": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "# skipped 0" in output, output
