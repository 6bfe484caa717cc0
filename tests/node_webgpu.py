"""WebGPU in node, for what Chromium's WebGPU cannot run: npm `webgpu` (Dawn) on Mesa's
lavapipe, a CPU Vulkan driver with shader-f16 and subgroup matrices, which SwiftShader lacks.
Chromium uses no Vulkan driver but SwiftShader for WebGPU, whatever its flags; node's Dawn takes
the one that VK_ICD_FILENAMES names. scripts/fetch_lavapipe.sh (run by scripts/setup.sh) fetches
lavapipe, and the `node` beside it that runs node on it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from artifacts import ARTIFACTS

from websd.spec import MatrixConfig

ROOT = Path(__file__).parents[1]
WEBGPU_NPM = "webgpu@0.6.2"
LAVAPIPE_NODE = ARTIFACTS / "lavapipe" / "node"
# What Dawn offers of lavapipe's cooperative matrices (with its unsafe APIs allowed).
LAVAPIPE_MATRICES = MatrixConfig(m=8, n=8, k=8, subgroup_size=8)


def webgpu_package() -> Path:
    """npm webgpu, installed once into the test artifacts."""
    prefix = ARTIFACTS / "npm-webgpu"
    package = prefix / "node_modules" / "webgpu"
    if not (package / "index.js").is_file():
        npm = ["npm", "install", "--prefix", str(prefix), "--no-save", "--no-audit", "--no-fund"]
        subprocess.run([*npm, "--ignore-scripts", "--loglevel=error", WEBGPU_NPM], check=True)
    return package


def lavapipe_node() -> Path:
    """node, run with lavapipe as the only Vulkan driver Dawn finds."""
    if not LAVAPIPE_NODE.is_file():
        raise FileNotFoundError(
            f"{LAVAPIPE_NODE} is missing: run scripts/fetch_lavapipe.sh (scripts/setup.sh does)"
        )
    return LAVAPIPE_NODE


def run_on_lavapipe(tool: str, args: list[str], timeout: float) -> None:
    """`node runtime_ts/test/node.mjs TOOL --webgpu PACKAGE ARGS` with lavapipe as the adapter."""
    command = ["node", str(ROOT / "runtime_ts/test/node.mjs"), tool]
    command += ["--webgpu", str(webgpu_package()), *args]
    env = os.environ | {"WEBSD_NODE": str(lavapipe_node())}
    subprocess.run(command, env=env, check=True, timeout=timeout)
