"""Run the functions of a small Relax module on real WebGPU, for kernel numerics tests.

The module is lowered by `lowering(webgpu)`, as a model build does, linked into a library,
and run by tvmjs in headless Chromium (SwiftShader). The device is requested with WebGPU's
default limits, so a kernel that needs more workgroup memory than every adapter grants fails
here too. Inputs and outputs are float32 (SwiftShader has no shader-f16).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

WEB_RUNTIME_JS = (
    Path(__file__).parents[1] / "runtime_ts/node_modules/@mlc-ai/web-runtime/lib/index.js"
)

needs_webgpu = pytest.mark.skipif(
    shutil.which("emcc") is None
    or not Path("/usr/bin/chromium").exists()
    or not WEB_RUNTIME_JS.is_file(),
    reason="needs emcc, Chromium and runtime_ts/node_modules",
)

_RUN = """async (calls) => {
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter.requestDevice();  // WebGPU's default limits
  const errors = [];
  device.addEventListener("uncapturederror", (e) => errors.push(e.error.message));
  const wasm = await (await fetch("kernels.wasm")).arrayBuffer();
  const tvm = await tvmjs.instantiate(wasm, tvmjs.createPolyfillWASI(), () => {});
  tvm.initWebGPU(device);
  tvm.registerFunc("websd.submit", () => tvm.lib.webGPUContext.flushCommands());
  const gpu = tvm.webgpu();
  const outputs = {};
  tvm.beginScope();
  const vm = tvm.createVirtualMachine(gpu);
  await tvm.asyncLoadWebGPUPipelines(vm.getInternalModule());
  for (const { name, shapes } of calls) {
    const inputs = [];
    for (const [i, shape] of shapes.entries()) {
      const data = new Float32Array(await (await fetch(`${name}.${i}.bin`)).arrayBuffer());
      inputs.push(tvm.empty(shape, "float32", gpu).copyFrom(data));
    }
    const out = vm.getFunction(name)(...inputs);
    const host = tvm.empty(out.shape, "float32", tvm.cpu()).copyFrom(out);
    await gpu.sync();
    outputs[name] = { shape: out.shape, data: Array.from(host.toArray()) };
  }
  tvm.endScope();
  return { outputs, errors };
}"""


def lowered_for_webgpu(module):
    from websd.passes.pipeline import lowering
    from websd.targets import WEBGPU, target

    webgpu = target(WEBGPU)
    with webgpu:
        return lowering(webgpu)(module)


def run_on_webgpu(module, inputs: dict[str, list[np.ndarray]], root: Path) -> dict:
    """Each function of `module` called once on its `inputs`: {"outputs": {name: array},
    "errors": [the device's uncaptured errors]}."""
    from browser import launch, serve
    from playwright.sync_api import sync_playwright
    from tvm import relax

    from websd.link import link_wasm
    from websd.targets import WEBGPU, target

    executable = relax.build(
        lowered_for_webgpu(module), target=target(WEBGPU), relax_pipeline=None, system_lib=True
    )
    link_wasm(executable, root / "kernels.wasm")
    shutil.copy(WEB_RUNTIME_JS, root / "tvmjs.js")
    (root / "index.html").write_text('<!doctype html><script src="tvmjs.js"></script>\n')
    for name, arrays in inputs.items():
        for i, array in enumerate(arrays):
            (root / f"{name}.{i}.bin").write_bytes(np.asarray(array, np.float32).tobytes())
    calls = [{"name": n, "shapes": [list(a.shape) for a in arrays]} for n, arrays in inputs.items()]
    with serve(root) as server, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.goto(server.url + "index.html")
            result = page.evaluate(_RUN, calls)
        finally:
            browser.close()
    outputs = {
        name: np.asarray(out["data"], np.float32).reshape(out["shape"])
        for name, out in result["outputs"].items()
    }
    return {"outputs": outputs, "errors": result["errors"]}
