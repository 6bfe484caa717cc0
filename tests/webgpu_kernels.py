"""Run the functions of a small Relax module on real WebGPU, for kernel numerics tests.

The module is lowered by `lowering(webgpu)`, as a model build does, linked into a library,
and run by tvmjs in headless Chromium (SwiftShader). The device is requested with WebGPU's
default limits, so a float32 kernel that needs more workgroup memory than every adapter
grants fails here too.

SwiftShader has no shader-f16, so a module with float16 kernels runs *as float32*: its WGSL
is rewritten to f32 (`f16` → `f32`, half literals → float ones) and every buffer is allocated
twice as large, so that each f16 tensor holds f32 values (and the device gets the adapter's
workgroup memory, as f16 tiles take twice their bytes). Every index, tile, stride and
workgroup-memory layout is the float16 kernel's own; only the arithmetic is wider. That
checks what float16 builds schedule differently (tiles twice as deep along k, other bank
padding, other tile fits), not fp16 rounding, which the native runner's float16 tests cover.
Inputs and outputs are float32 either way.
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

_RUN = """async ({ calls, asFloat32 }) => {
  if (asFloat32) {
    const createShaderModule = GPUDevice.prototype.createShaderModule;
    GPUDevice.prototype.createShaderModule = function (descriptor) {
      const code = descriptor.code
        .replace(/^enable f16;$/m, "")
        .replace(/\\bf16\\b/g, "f32")
        .replace(/(\\d\\.\\d+e[+-]\\d+)h\\b/g, "$1f");
      return createShaderModule.call(this, { ...descriptor, code });
    };
    const createBuffer = GPUDevice.prototype.createBuffer;
    GPUDevice.prototype.createBuffer = function (descriptor) {
      return createBuffer.call(this, { ...descriptor, size: 2 * descriptor.size });
    };
  }
  const adapter = await navigator.gpu.requestAdapter();
  // WebGPU's default limits; as float32, f16 tiles take twice their workgroup memory.
  const workgroupBytes = adapter.limits.maxComputeWorkgroupStorageSize;
  const requiredLimits = asFloat32 ? { maxComputeWorkgroupStorageSize: workgroupBytes } : {};
  const device = await adapter.requestDevice({ requiredLimits });
  const errors = [];
  device.addEventListener("uncapturederror", (e) => errors.push(e.error.message));
  const wasm = await (await fetch("kernels.wasm")).arrayBuffer();
  const tvm = await tvmjs.instantiate(wasm, tvmjs.createPolyfillWASI(), () => {});
  tvm.initWebGPU(device);
  tvm.registerFunc("websd.submit", () => tvm.lib.webGPUContext.flushCommands());
  const context = tvm.lib.webGPUContext;
  const gpu = tvm.webgpu();
  const outputs = {};
  tvm.beginScope();
  const vm = tvm.createVirtualMachine(gpu);
  await tvm.asyncLoadWebGPUPipelines(vm.getInternalModule());
  for (const { name, shapes, dtypes } of calls) {
    const inputs = [];
    for (const [i, shape] of shapes.entries()) {
      const data = new Uint8Array(await (await fetch(`${name}.${i}.bin`)).arrayBuffer());
      const input = tvm.empty(shape, dtypes[i], gpu);
      context.copyRawBytesToBuffer(data, input.getDataPtr(), 0, data.length);
      inputs.push(input);
    }
    const out = vm.getFunction(name)(...inputs);
    const host = tvm.empty(out.shape, "float32", tvm.cpu());
    const bytes = 4 * host.shape.reduce((a, b) => a * b, 1);  // f32 either way
    context.deviceCopyFromGPU(out.getDataPtr(), 0, host.getDataPtr(), bytes);
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
    "errors": [the device's uncaptured errors]}; as float32 (above) where its kernels use f16."""
    from browser import launch, serve
    from playwright.sync_api import sync_playwright
    from tvm import relax

    from websd.compile import wgsl_source
    from websd.link import link_wasm
    from websd.targets import WEBGPU, target

    executable = relax.build(
        lowered_for_webgpu(module), target=target(WEBGPU), relax_pipeline=None, system_lib=True
    )
    as_float32 = "enable f16;" in wgsl_source(executable)
    link_wasm(executable, root / "kernels.wasm")
    shutil.copy(WEB_RUNTIME_JS, root / "tvmjs.js")
    (root / "index.html").write_text('<!doctype html><script src="tvmjs.js"></script>\n')
    calls = []
    for name, arrays in inputs.items():
        for i, array in enumerate(arrays):
            (root / f"{name}.{i}.bin").write_bytes(np.asarray(array, np.float32).tobytes())
        shapes = [list(a.shape) for a in arrays]
        dtypes = [str(param.ty.dtype) for param in module[name].params]
        calls.append({"name": name, "shapes": shapes, "dtypes": dtypes})
    with serve(root) as server, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.goto(server.url + "index.html")
            result = page.evaluate(_RUN, {"calls": calls, "asFloat32": as_float32})
        finally:
            browser.close()
    outputs = {
        name: np.asarray(out["data"], np.float32).reshape(out["shape"])
        for name, out in result["outputs"].items()
    }
    return {"outputs": outputs, "errors": result["errors"]}
