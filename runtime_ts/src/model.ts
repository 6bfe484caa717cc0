/**
 * The compiled model on WebGPU through tvmjs: the wasm library instantiated, its weights loaded
 * from the checked cache (model store), every kernel's pipeline compiled up front, and the four
 * functions callable with host arrays.
 *
 * Each function takes its real inputs, then its weight group as one bundled tuple
 * (`manifest.params[manifest.functions[name].params]`). Inputs travel host → GPU per call, and
 * every output comes back to the host: the scheduler runs in JavaScript between UNet calls.
 */

import {
  createPolyfillWASI,
  type DLDevice,
  type Instance,
  instantiate,
  type PackedFunc,
  Tensor,
  type TVMObject,
  type VirtualMachine,
} from "@mlc-ai/web-runtime";
import { reuseBindGroups } from "./bind_groups";
import { WebsdError } from "./errors";
import type { ArtifactUrls, Manifest, TensorSpec } from "./manifest";
import type { ModelStore } from "./store";
import { registerSubmit } from "./submit";

export type HostArray = Float32Array | Int32Array;

/** An input that stays on the GPU across calls (the text embeddings of a generation). */
export interface DeviceTensor {
  dispose(): void;
}

export class Model {
  private gpuError: string | undefined;
  /** The function whose activations the VM's storage pool holds. */
  private pooledFor: string | undefined;

  private constructor(
    private readonly manifest: Manifest,
    private readonly tvm: Instance,
    private readonly device: DLDevice,
    private readonly functions: Map<string, PackedFunc>,
    private readonly params: Map<string, TVMObject>,
    private readonly emptyPool: PackedFunc,
  ) {}

  /**
   * @param onCompile fraction of GPU kernels compiled, for progress (tens of seconds on a
   *   software GPU, a few on a real one).
   */
  static async load(
    manifest: Manifest,
    urls: ArtifactUrls,
    gpu: GPUDevice,
    store: ModelStore,
    onCompile: (fraction: number) => void,
    signal?: AbortSignal,
  ): Promise<Model> {
    const wasm = await store.bytes(urls.library, signal);
    const tvm = await instantiate(wasm.buffer, createPolyfillWASI(), (message) =>
      console.debug(`tvmjs: ${message}`),
    );
    reuseBindGroups(gpu);
    tvm.initWebGPU(gpu);
    registerSubmit(tvm);
    const device = tvm.webgpu();
    let compiling = false;
    tvm.registerInitProgressCallback((report) => {
      if (compiling) onCompile(report.progress);
    });
    tvm.beginScope();
    try {
      await tvm.fetchTensorCache(urls.weights, device, {
        artifactCache: store,
        ...(signal && { signal }),
      });
      const vm: VirtualMachine = tvm.detachFromCurrentScope(tvm.createVirtualMachine(device));
      compiling = true;
      onCompile(0);
      await tvm.asyncLoadWebGPUPipelines(vm.getInternalModule());
      const functions = new Map<string, PackedFunc>();
      for (const name of Object.keys(manifest.functions)) {
        functions.set(name, tvm.detachFromCurrentScope(vm.getFunction(name)));
      }
      const params = new Map<string, TVMObject>();
      for (const [group, names] of Object.entries(manifest.params)) {
        params.set(group, tvm.detachFromCurrentScope(tvm.getParamsFromCacheByName(names)));
      }
      const emptyPool = tvm.detachFromCurrentScope(
        tvm.getGlobalFunc("vm.builtin.memory_manager.clear"),
      );
      const model = new Model(manifest, tvm, device, functions, params, emptyPool);
      gpu.addEventListener("uncapturederror", (event) => {
        model.gpuError ??= event.error.message;
      });
      return model;
    } finally {
      tvm.endScope();
    }
  }

  /** Uploads `data` as input `index` of `name`, to pass to several calls; dispose it after. */
  upload(name: string, index: number, data: HostArray): DeviceTensor {
    return this.tvm.withNewScope(() =>
      this.tvm.detachFromCurrentScope(this.toDevice(this.inputSpec(name, index), data)),
    );
  }

  /** Calls `name` and returns its output on the host. */
  async run(name: string, inputs: readonly (HostArray | DeviceTensor)[]): Promise<HostArray> {
    const fn = this.functions.get(name);
    const group = this.manifest.functions[name]?.params;
    const params = group === undefined ? undefined : this.params.get(group);
    if (fn === undefined || params === undefined) {
      throw new Error(`the model library has no function ${name} or its weights`);
    }
    // The VM keeps every storage it allocated, for reuse by size. A generation calls each
    // function in a run (text encoder, UNet loop, VAE), so the pool is emptied when the
    // function changes: only one function's activations are on the GPU at a time, which is
    // the peak the manifest reports (compiler/memory.py), and repeated calls reuse theirs.
    if (this.pooledFor !== name) {
      this.emptyPool();
      this.pooledFor = name;
    }
    this.tvm.beginScope();
    try {
      const args = inputs.map((input, i) =>
        input instanceof Tensor
          ? input
          : this.toDevice(this.inputSpec(name, i), input as HostArray),
      );
      const output = fn(...args, params) as Tensor;
      const host = this.tvm.empty(output.shape, output.dtype, this.tvm.cpu()).copyFrom(output);
      await this.device.sync();
      if (this.gpuError !== undefined) {
        throw new WebsdError("gpu", `The GPU reported an error running ${name}: ${this.gpuError}`);
      }
      return host.toArray() as HostArray;
    } finally {
      this.tvm.endScope();
    }
  }

  dispose(): void {
    const objects = [...this.functions.values(), ...this.params.values(), this.emptyPool];
    for (const object of objects) object.dispose();
    this.tvm.dispose();
  }

  private inputSpec(name: string, index: number): TensorSpec {
    const spec = this.manifest.functions[name]?.inputs[index];
    if (spec === undefined) throw new Error(`${name} has no input ${index}`);
    return spec;
  }

  private toDevice(spec: TensorSpec, data: HostArray): Tensor {
    return this.tvm.empty(spec.shape, spec.dtype, this.device).copyFrom(data);
  }
}
