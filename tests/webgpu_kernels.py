"""Run the functions of a small Relax module on real WebGPU, for kernel numerics tests.

The module is lowered by `lowering(webgpu)`, as a model build does, linked into a library, and
run by the harness runtime_ts/test/kernels.ts on a device opened as a model's is: with the
features and workgroup memory its kernels need, as a manifest would list them, and otherwise
WebGPU's default limits, so a kernel that needs more than its library asks for fails here too.

Each kernel runs as written, on the WebGPU it needs:
- float32 in headless Chromium, on SwiftShader;
- float16 in node, on lavapipe (tests/node_webgpu.py): SwiftShader has no shader-f16.
Inputs are written in each parameter's dtype; outputs come back in theirs, as float32 arrays.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    from websd.spec import MatrixConfig

RUNTIME_TS = Path(__file__).parents[1] / "runtime_ts"
WEB_RUNTIME_JS = RUNTIME_TS / "node_modules/@mlc-ai/web-runtime/lib/index.js"

needs_webgpu = pytest.mark.skipif(
    shutil.which("emcc") is None
    or not Path("/usr/bin/chromium").exists()
    or not WEB_RUNTIME_JS.is_file(),
    reason="needs emcc, Chromium and runtime_ts/node_modules",
)

# How far a float16 kernel's outputs may be from a float32 reference on the same inputs: one
# unit in the last place, twice what rounding the output to float16 costs.
FLOAT16_RTOL = 2**-10

_IN_PAGE = "async (run) => (await import('./kernels.js')).runKernels(tvmjs, run)"


def stored(arrays: list[np.ndarray], dtype: str) -> list[np.ndarray]:
    """`arrays` as tensors of `dtype` hold them, in float32: what a kernel reads, and so what
    its reference computes from."""
    return [np.asarray(a, dtype).astype(np.float32) for a in arrays]


def lowered_for_webgpu(module):
    from websd.passes.pipeline import lowering
    from websd.targets import WEBGPU, target

    webgpu = target(WEBGPU)
    with webgpu:
        return lowering(webgpu)(module)


def run_on_webgpu(
    module, inputs: dict[str, list[np.ndarray]], root: Path, matrix: MatrixConfig | None = None
) -> dict:
    """Each function of `module` called once on its `inputs`: {"outputs": {name: array},
    "errors": [the device's uncaptured errors], "adapter": its description, "matrix_kernels":
    [those that ran as subgroup-matrix WGSL]}. With `matrix`, float16 GEMMs run as
    subgroup-matrix kernels written for it (websd.matrix_kernels), in node on lavapipe."""
    from browser import serve
    from tvm import relax

    from websd.compile import wgsl_source
    from websd.link import link_wasm
    from websd.memory import workgroup_limits
    from websd.targets import WEBGPU, target

    executable = relax.build(
        lowered_for_webgpu(module), target=target(WEBGPU), relax_pipeline=None, system_lib=True
    )
    wgsl = wgsl_source(executable)
    float16 = "enable f16;" in wgsl
    link_wasm(executable, root / "kernels.wasm")
    calls = []
    for name, arrays in inputs.items():
        specs = []
        for i, (array, param) in enumerate(zip(arrays, module[name].params, strict=True)):
            dtype = str(param.ty.dtype)
            (root / f"{name}.{i}.bin").write_bytes(np.asarray(array, dtype).tobytes())
            specs.append({"shape": list(array.shape), "dtype": dtype})
        calls.append({"name": name, "inputs": specs})
    needs = {"features": ["shader-f16"] if float16 else [], "limits": workgroup_limits(wgsl)}
    run = {"calls": calls, "needs": needs}
    if matrix is not None:
        from websd.matrix_kernels import FEATURE, build_matrix_kernels

        kernels = build_matrix_kernels(module, matrix)
        (root / "matrix.json").write_text(json.dumps(kernels))
        needs["features"].append(FEATURE)
        needs["limits"] = workgroup_limits(wgsl, *kernels["kernels"].values())
        run["matrix"] = "matrix.json"
    with serve(root) as server:
        run["base"] = server.url
        report = _in_node(run, root) if float16 else _in_chromium(run, root)
    outputs = {
        name: np.frombuffer(base64.b64decode(out["base64"]), out["dtype"])
        .reshape(out["shape"])
        .astype(np.float32)
        for name, out in report["outputs"].items()
    }
    return {
        "outputs": outputs,
        "errors": report["errors"],
        "adapter": report["adapter"],
        "matrix_kernels": report["matrixKernels"],
    }


def _in_chromium(run: dict, root: Path) -> dict:
    from browser import launch
    from playwright.sync_api import sync_playwright

    subprocess.run(["node", str(RUNTIME_TS / "test/page.mjs"), "kernels", str(root)], check=True)
    shutil.copy(WEB_RUNTIME_JS, root / "tvmjs.js")
    (root / "index.html").write_text('<!doctype html><script src="tvmjs.js"></script>\n')
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.goto(run["base"] + "index.html")
            return page.evaluate(_IN_PAGE, run)
        finally:
            browser.close()


def _in_node(run: dict, root: Path) -> dict:
    from node_webgpu import run_on_lavapipe

    (root / "run.json").write_text(json.dumps(run))
    args = ["--run", str(root / "run.json"), "--out", str(root / "report.json")]
    run_on_lavapipe("kernels_node", args, timeout=1200)
    return json.loads((root / "report.json").read_text())
