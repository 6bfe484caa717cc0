/**
 * One generation by the browser runtime, in node, on the WebGPU of npm `webgpu` (Dawn): what the
 * worker does for a page, with no page. It reaches adapters that Chromium does not use: Mesa's
 * lavapipe has shader-f16, which SwiftShader lacks, so a float16 build runs on it as it would
 * on a reader's GPU.
 *
 *   node test/node.mjs generate --webgpu DIR --manifest URL --request JSON --out PREFIX [--unsafe]
 *
 * DIR is the installed `webgpu` package; URL the model's websd-model.json, served over http;
 * JSON the GenerateRequest fields to change from the defaults below (size: the model's first).
 * --unsafe lets Dawn offer its unsafe features, as Chrome's --enable-unsafe-webgpu does: subgroup
 * matrices among them. Writes PREFIX.rgba (the pixels) and PREFIX.json (the adapter, its
 * features, the set of subgroup-matrix kernels picked, whether the device took them and how many
 * pipelines multiply on them, the image's size, seed and timings, and the device's uncaptured
 * errors).
 */

import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { describeAdapter, findAdapter, requestDevice } from "../src/gpu";
import { loadPipeline } from "../src/load";
import { findSize, parseManifest, sizeName } from "../src/manifest";
import { pickMatrixKernels, withMatrixFeature } from "../src/matrix_kernels";
import type { GenerateRequest } from "../src/pipeline";
import { installWebgpu } from "./node_webgpu";

const DEFAULT_REQUEST: Omit<GenerateRequest, "size"> = {
  prompt: "a photo of a red cat",
  negativePrompt: "",
  seed: 42,
  steps: 2,
  guidance: 7.5,
  scheduler: "dpm++2m",
  previewEvery: 0,
};

/** Cache Storage in memory, as much of it as the model store uses: node has none. */
class MemoryCache {
  private readonly entries = new Map<string, ArrayBuffer>();

  async match(key: string): Promise<Response | undefined> {
    const body = this.entries.get(key);
    return body === undefined ? undefined : new Response(body.slice(0));
  }

  async put(key: string, response: Response): Promise<void> {
    this.entries.set(key, await response.arrayBuffer());
  }

  async delete(key: string): Promise<boolean> {
    return this.entries.delete(key);
  }
}

const { values: args } = parseArgs({
  options: {
    webgpu: { type: "string" },
    manifest: { type: "string" },
    request: { type: "string", default: "{}" },
    out: { type: "string" },
    unsafe: { type: "boolean", default: false },
  },
});
if (args.webgpu === undefined || args.manifest === undefined || args.out === undefined) {
  throw new Error(
    "usage: node.mjs generate --webgpu DIR --manifest URL [--request JSON] --out PREFIX [--unsafe]",
  );
}

installWebgpu(args.webgpu, args.unsafe ? ["allow_unsafe_apis"] : []);
const cache = new MemoryCache();
Object.assign(globalThis, { caches: { open: async () => cache, has: async () => true } });

const manifest = parseManifest(await (await fetch(args.manifest)).json());
const request: GenerateRequest = {
  ...DEFAULT_REQUEST,
  size: sizeName(findSize(manifest)),
  ...(JSON.parse(args.request) as Partial<GenerateRequest>),
};
const adapter = await findAdapter();
const matrix = pickMatrixKernels(adapter, manifest.webgpu.matrix_kernels);
const device = await requestDevice(adapter, withMatrixFeature(manifest.webgpu, matrix));
const errors: string[] = [];
device.addEventListener("uncapturederror", (event) =>
  errors.push((event as GPUUncapturedErrorEvent).error.message),
);
// Pipelines made from subgroup-matrix WGSL: their modules are seen beneath the runtime's own
// swap (loadPipeline's useMatrixKernels wraps createShaderModule after this does).
const matrixModules = new WeakSet<GPUShaderModule>();
let matrixPipelines = 0;
const createShaderModule = device.createShaderModule.bind(device);
device.createShaderModule = (descriptor) => {
  const module = createShaderModule(descriptor);
  if (descriptor.code.includes("subgroupMatrixMultiplyAccumulate")) matrixModules.add(module);
  return module;
};
const createComputePipelineAsync = device.createComputePipelineAsync.bind(device);
device.createComputePipelineAsync = (descriptor) => {
  if (matrixModules.has(descriptor.compute.module)) matrixPipelines++;
  return createComputePipelineAsync(descriptor);
};
const { pipeline, subgroupMatrices } = await loadPipeline(
  args.manifest,
  manifest,
  device,
  () => {},
  matrix,
);
const image = await pipeline.generate(request, () => {});
writeFileSync(`${args.out}.rgba`, image.data);
const report = {
  adapter: describeAdapter(adapter),
  features: [...adapter.features].sort(),
  matrixKernels: matrix?.path ?? null,
  subgroupMatrices,
  matrixPipelines,
  width: image.width,
  height: image.height,
  seed: image.seed,
  timings: image.timings,
  errors,
};
writeFileSync(`${args.out}.json`, JSON.stringify(report, null, 2));
