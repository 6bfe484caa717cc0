/**
 * The kernel numerics harness of tests/webgpu_kernels.py: the functions of a linked library
 * (kernels.wasm, built by TVM for WebGPU) called on inputs from raw files, their outputs read
 * back as raw bytes. The same code runs in a Chromium page (float32, on SwiftShader; bundled by
 * test/page.mjs) and in node on npm `webgpu` (float16, on lavapipe, which has shader-f16;
 * kernels_node.ts). tvmjs is passed in, as each loads it its own way: the page as a script.
 */

import type * as tvmjs from "@mlc-ai/web-runtime";
import { describeAdapter, findAdapter, requestDevice, type GpuNeeds } from "../src/gpu";
import { matrixUnsupported, useMatrixKernels, type MatrixKernels } from "../src/matrix_kernels";
import { registerSubmit } from "../src/submit";

/** One call: `name` on the tensors in `${name}.${i}.bin`, each raw bytes of `dtype`. */
export interface KernelCall {
  name: string;
  inputs: { shape: number[]; dtype: string }[];
}

/** What to run, as tests/webgpu_kernels.py writes it: the files' base URL, the calls, and what
 * the kernels need of the device, as a manifest's `webgpu` says it. The device is opened as a
 * model's is (src/gpu.ts), with those needs and no more, so a kernel that needs more than its
 * library asks for fails here too. */
export interface KernelRun {
  base: string;
  calls: KernelCall[];
  needs: GpuNeeds;
  /** A file of subgroup-matrix kernels to run in place of the library's (their feature in
   * `needs`), where the adapter runs them. */
  matrix?: string;
}

export interface KernelOutput {
  shape: number[];
  dtype: string;
  base64: string;
}

export interface KernelReport {
  adapter: string;
  features: string[];
  outputs: Record<string, KernelOutput>;
  errors: string[];
  /** The kernels that ran as subgroup-matrix WGSL. */
  matrixKernels: string[];
}

export async function runKernels(runtime: typeof tvmjs, run: KernelRun): Promise<KernelReport> {
  const adapter = await findAdapter();
  const file = async (name: string) =>
    new Uint8Array(await (await fetch(new URL(name, run.base))).arrayBuffer());
  const matrix =
    run.matrix === undefined
      ? undefined
      : (JSON.parse(new TextDecoder().decode(await file(run.matrix))) as MatrixKernels);
  const unsupported = matrix === undefined ? null : matrixUnsupported(adapter, matrix.config);
  if (unsupported !== null) throw new Error(`cannot run subgroup-matrix kernels: ${unsupported}`);
  const device = await requestDevice(adapter, run.needs);
  const errors: string[] = [];
  device.addEventListener("uncapturederror", (event) =>
    errors.push((event as GPUUncapturedErrorEvent).error.message),
  );
  const swapped = matrix === undefined ? () => [] : useMatrixKernels(device, matrix);
  const wasm = await file("kernels.wasm");
  const tvm = await runtime.instantiate(wasm.buffer, runtime.createPolyfillWASI(), () => {});
  tvm.initWebGPU(device);
  registerSubmit(tvm);
  const gpuDevice = tvm.webgpu();
  const outputs: Record<string, KernelOutput> = {};
  tvm.beginScope();
  const vm = tvm.createVirtualMachine(gpuDevice);
  await tvm.asyncLoadWebGPUPipelines(vm.getInternalModule());
  for (const { name, inputs } of run.calls) {
    const tensors = [];
    for (const [i, { shape, dtype }] of inputs.entries()) {
      // Through the CPU, which pads what WebGPU writes to whole words (an odd count of f16).
      const staged = tvm
        .empty(shape, dtype, tvm.cpu())
        .copyFromRawBytes(await file(`${name}.${i}.bin`));
      tensors.push(tvm.empty(shape, dtype, gpuDevice).copyFrom(staged));
    }
    const out = vm.getFunction(name)(...tensors) as tvmjs.Tensor;
    const host = tvm.empty(out.shape, out.dtype, tvm.cpu()).copyFrom(out);
    await gpuDevice.sync();
    outputs[name] = { shape: out.shape, dtype: out.dtype, base64: toBase64(host.toRawBytes()) };
  }
  tvm.endScope();
  return {
    adapter: describeAdapter(adapter),
    features: [...adapter.features].sort(),
    outputs,
    errors,
    matrixKernels: swapped(),
  };
}

function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}
