"""runtime_ts's node tests, against fixtures that real torch and diffusers compute here.

The TypeScript RNG must match `torch.randn` bit for bit, the schedulers diffusers' within 1e-5,
and the tokenizer compiler/tokenizer.py's ids; tests/ts_fixtures.py writes the references,
`npm test` compares. The manifest fixture both sides read is a real build's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from ts_fixtures import write_fixtures

RUNTIME_TS = Path(__file__).resolve().parent.parent / "runtime_ts"
MANIFEST_FIXTURE = Path(__file__).parent / "fixtures" / "websd-model.json"


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


def _structure(value: object) -> object:
    """Keys and value types of JSON, not the values: digests and sizes change with every build."""
    if isinstance(value, dict):
        return {key: _structure(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_structure(value[0])] if value else []
    return type(value).__name__


def test_manifest_fixture_is_what_the_compiler_writes(tiny_sd1_build) -> None:
    """runtime_ts/test/manifest.test.ts parses the fixture: it must stay a real manifest."""
    fixture = json.loads(MANIFEST_FIXTURE.read_text())
    assert _structure(fixture) == _structure(tiny_sd1_build.manifest), (
        f"the manifest format changed: copy {tiny_sd1_build.folder}/websd-model.json to "
        f"{MANIFEST_FIXTURE} and update runtime_ts/src/manifest.ts"
    )
