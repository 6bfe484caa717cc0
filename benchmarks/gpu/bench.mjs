/**
 * Times the functions of one websd WebGPU model library in node, on whatever adapter Dawn
 * (npm `webgpu`) finds, and profiles one call of each with timestamp queries.
 *
 *   node bench.mjs --webgpu DIR --tvmjs FILE --wasm FILE --model model.json --out result.json
 *                  [--iterations 10] [--warmup 2] [--budget-s 60] [--functions a,b]
 *                  [--matrix matrix-MxNxK-sS.json]
 *
 * DIR holds npm webgpu's index.js; FILE is tvmjs (npm @mlc-ai/web-runtime lib/index.js);
 * model.json is what benchmarks/gpu_build.py wrote beside the library. Weights are random,
 * drawn on the host from the shapes in model.json. Each timed call runs three ways: as the page
 * runs it (kernels submitted in batches, bind groups reused); with one submit at the end, so
 * that the CPU records every kernel before the GPU starts; and so, with a new bind group for
 * every kernel, as tvmjs alone makes them. With --matrix (a set of subgroup-matrix kernels that
 * gpu_build.py wrote beside the library), the model runs on a device from the instance that
 * lists Dawn's experimental features, its GEMM kernels swapped for that set's as the runtime
 * swaps them where an adapter offers those matrices; on an adapter without, it says why and
 * runs nothing. Each function's output is kept in brief (a sample of its values), so that
 * runs of one library (which draw the same weights and inputs) can be compared. The result
 * is rewritten after each function, so a run stopped early still leaves what it measured.
 * Progress goes to stderr.
 */

import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { PassProfiler } from "./profiler.mjs";
import { uniforms } from "./xorshift.mjs";
import {
  MATRIX_FEATURE,
  matrixUnsupported,
  reuseBindGroups,
  useMatrixKernels,
} from "./websd-device.mjs";

/** Dawn's toggles for an instance, with the features in `enabled` turned on too. */
function dawnToggles(...enabled) {
  return [
    // shader-f16 on NVIDIA's Vulkan driver is behind vulkan_enable_f16_on_nvidia.
    `enable-dawn-features=${["vulkan_enable_f16_on_nvidia", ...enabled].join(",")}`,
    // Per-pass timings need full timestamp resolution.
    "disable-dawn-features=timestamp_quantization",
  ];
}
const DAWN_TOGGLES = dawnToggles();
// Dawn lists its experimental features (subgroup matrices among them) only to an instance with
// allow_unsafe_apis; the model runs on one without it, as in a browser.
const LISTING_TOGGLES = dawnToggles("allow_unsafe_apis");
/** Inputs that are one number in every call, as a generation passes them. */
const CONSTANT_INPUTS = { timestep: 500, guidance_scale: 7.5 };
/** Values of each function's output kept, spread evenly over it, to compare runs. */
const OUTPUT_SAMPLES = 256;
const DEFAULT_FUNCTIONS = "encode_text,denoise,decode_image";

const { values: args } = parseArgs({
  options: {
    webgpu: { type: "string" },
    tvmjs: { type: "string" },
    wasm: { type: "string" },
    model: { type: "string" },
    out: { type: "string" },
    iterations: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    "budget-s": { type: "string", default: "60" },
    functions: { type: "string", default: DEFAULT_FUNCTIONS },
    matrix: { type: "string" },
  },
});
for (const name of ["webgpu", "tvmjs", "wasm", "model", "out"]) {
  if (args[name] === undefined) throw new Error(`--${name} is required`);
}

const start = performance.now();
function log(message) {
  const seconds = ((performance.now() - start) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[bench ${seconds} s] ${message}\n`);
}

const size = (shape) => shape.reduce((a, b) => a * b, 1);

/** Random signs and magnitudes in [0.1, 1), never zero; tensors repeat a stretch of these. */
const POOL = uniforms(1 << 16, 12345).map((u, i) => (i % 2 ? 1 : -1) * (0.1 + 0.9 * u));

/** float32 → float16 bits, truncated; below float16's normal range, a signed zero. */
function toHalfBits(values) {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const half = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const b = bits[i];
    const exponent = ((b >>> 23) & 0xff) - 127 + 15;
    const sign = (b >>> 16) & 0x8000;
    half[i] = exponent > 0 ? sign | (exponent << 10) | ((b >>> 13) & 0x3ff) : sign;
  }
  return half;
}

/**
 * Random bytes for a tensor: a stretch of the pool scaled by 1/√fan-in (so activations stay
 * in range through a deep network, in float16 as in float32), repeated to the tensor's size.
 * Drawing only one stretch per tensor keeps the gigabytes of SD's weights to seconds.
 */
function randomBytes(shape, dtype, seed) {
  const count = size(shape);
  const scale = 1 / Math.sqrt(size(shape.slice(1)));
  const stretch = new Float32Array(Math.min(count, POOL.length));
  const offset = seed * 7919;
  for (let i = 0; i < stretch.length; i++) {
    stretch[i] = POOL[(i + offset) % POOL.length] * scale;
  }
  const converters = { float32: (v) => v, float16: toHalfBits };
  if (!(dtype in converters)) throw new Error(`no random weights for dtype ${dtype}`);
  const pattern = converters[dtype](stretch);
  const values = new pattern.constructor(count);
  values.set(pattern);
  for (let filled = pattern.length; filled < count; filled *= 2) {
    values.copyWithin(filled, 0, Math.min(filled, count - filled));
  }
  return new Uint8Array(values.buffer);
}

/**
 * The adapter, and what later schedules could use on it: its subgroup sizes, and the
 * experimental features and subgroup-matrix shapes (tensor cores) that `listing`, the same
 * adapter seen with LISTING_TOGGLES, offers.
 */
function adapterInfo(adapter, listing) {
  const { vendor, architecture, device, description } = adapter.info;
  const matrices = listing.info.subgroupMatrixConfigs ?? [];
  return {
    vendor,
    architecture,
    device,
    description,
    features: [...adapter.features].sort(),
    subgroup_sizes: [adapter.info.subgroupMinSize, adapter.info.subgroupMaxSize],
    experimental_features: [...listing.features].filter((f) => !adapter.features.has(f)).sort(),
    subgroup_matrix_configs: matrices.map(
      (c) => `${c.componentType}→${c.resultComponentType} ${c.M}×${c.N}×${c.K}`,
    ),
  };
}

const model = JSON.parse(readFileSync(args.model, "utf8"));
const functions = args.functions.split(",");
const result = {
  model: model.name,
  dtype: model.dtype,
  toggles: DAWN_TOGGLES,
  functions: {},
  errors: [],
};
const save = () => writeFileSync(args.out, JSON.stringify(result, null, 1) + "\n");

const { create, globals } = await import(pathToFileURL(join(resolve(args.webgpu), "index.js")));
Object.assign(globalThis, globals);
const profiler = new PassProfiler(globals);
// Held for the whole run: dawn.node crashes if a GPU object is collected under its adapter.
const gpu = create(DAWN_TOGGLES);
const listingGpu = create(LISTING_TOGGLES);
const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
if (adapter === null) throw new Error("Dawn found no WebGPU adapter");
const listing = await listingGpu.requestAdapter({ powerPreference: "high-performance" });
result.adapter = adapterInfo(adapter, listing ?? adapter);
save();
log(`adapter: ${result.adapter.vendor} ${result.adapter.description}`);
const timestamps = adapter.features.has("timestamp-query");
const matrix =
  args.matrix === undefined ? undefined : JSON.parse(readFileSync(args.matrix, "utf8"));
if (matrix !== undefined) {
  const { m, n, k, subgroup_size } = matrix.config;
  result.matrix = { config: `${m}×${n}×${k}, subgroups of ${subgroup_size}`, kernels: 0 };
  const unsupported = listing === null ? "no adapter" : matrixUnsupported(listing, matrix.config);
  if (unsupported !== null) {
    result.matrix.skipped = unsupported;
    save();
    log(`subgroup matrices: ${unsupported}`);
    process.exit(0);
  }
}
/** The adapter the model runs on: one that lists subgroup matrices where they are used. */
const modelAdapter = matrix === undefined ? adapter : listing;
// The adapter's most of each limit that tvmjs' own device request raises: a kernel is never
// refused for want of a limit that a browser would grant.
const RAISED_LIMITS = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupStorageSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeInvocationsPerWorkgroup",
];
const device = await modelAdapter.requestDevice({
  requiredFeatures: [
    ...model.features,
    ...(timestamps ? ["timestamp-query"] : []),
    ...(matrix === undefined ? [] : [MATRIX_FEATURE]),
  ],
  requiredLimits: Object.fromEntries(
    RAISED_LIMITS.map((name) => [name, modelAdapter.limits[name]]),
  ),
});
function gpuError(message) {
  result.errors.push(message);
  save();
  log(`GPU error: ${message}`);
}
device.addEventListener("uncapturederror", (event) => gpuError(event.error.message));
device.lost.then((info) => gpuError(`device lost (${info.reason}): ${info.message}`));

/** Queue submits so far: how many command buffers the GPU was handed. */
let submits = 0;
const queueSubmit = device.queue.submit.bind(device.queue);
device.queue.submit = (buffers) => {
  submits += 1;
  return queueSubmit(buffers);
};

// Bind groups reused as the page's runtime reuses them (runtime_ts/src/bind_groups.ts), or made
// anew for every kernel, as tvmjs does alone; either way, counted as they are made.
let bindGroupsMade = 0;
const makeBindGroup = device.createBindGroup.bind(device);
device.createBindGroup = (descriptor) => {
  bindGroupsMade += 1;
  return makeBindGroup(descriptor);
};
const newBindGroup = device.createBindGroup;
reuseBindGroups(device);
const reusedBindGroup = device.createBindGroup;

const swapped = matrix === undefined ? () => [] : useMatrixKernels(device, matrix);

const tvmjs = createRequire(import.meta.url)(resolve(args.tvmjs));
const tvm = await tvmjs.instantiate(readFileSync(args.wasm), tvmjs.createPolyfillWASI(), log);
tvm.initWebGPU(device);
/**
 * The library's `websd.submit` calls (compiler/passes/submit_in_batches.py) submit what tvmjs
 * has recorded, as the page's runtime does (runtime_ts/src/model.ts); with `inBatches` off they
 * do nothing, which leaves tvmjs' own single submit at the sync, for comparison.
 */
let inBatches = true;
const context = tvm.lib.webGPUContext;
tvm.registerFunc("websd.submit", () => {
  if (inBatches) context.flushCommands();
});
const dev = tvm.webgpu();
let seed = 1;
/** A GPU tensor with random contents, kept alive beyond the current scope. */
function randomTensor({ shape, dtype }) {
  const tensor = tvm.empty(shape, dtype, dev);
  if (dtype === "int32") {
    const ids = uniforms(size(shape), seed++);
    tensor.copyFrom(Int32Array.from(ids, (u) => Math.floor(u * model.vocab_size)));
  } else {
    const bytes = randomBytes(shape, dtype, seed++);
    // WebGPU writes whole words: an odd number of float16 values goes through the CPU, which
    // pads the write, as tvmjs' own weight loader does.
    if (bytes.length % 4 === 0) tensor.copyFromRawBytes(bytes);
    else tensor.copyFrom(tvm.empty(shape, dtype, tvm.cpu()).copyFromRawBytes(bytes));
  }
  return tensor;
}

tvm.beginScope();
const vm = tvm.detachFromCurrentScope(tvm.createVirtualMachine(dev));
let mark = performance.now();
await tvm.asyncLoadWebGPUPipelines(vm.getInternalModule());
result.compile_s = (performance.now() - mark) / 1000;
log(`pipelines compiled in ${result.compile_s.toFixed(1)} s`);
if (result.matrix !== undefined) {
  result.matrix.kernels = swapped().length;
  log(`${result.matrix.kernels} kernels on subgroup matrices`);
}

mark = performance.now();
const groups = new Set(functions.map((name) => model.functions[name].params));
const params = new Map();
for (const group of groups) {
  const tensors = model.params[group].map(randomTensor);
  params.set(group, tvm.detachFromCurrentScope(tvm.makeTVMArray(tensors)));
}
tvm.endScope();
await dev.sync();
result.weights_s = (performance.now() - mark) / 1000;
log(`random weights on the GPU in ${result.weights_s.toFixed(1)} s`);
save();

const iterations = Number(args.iterations);
const warmup = Number(args.warmup);
const budgetMs = Number(args["budget-s"]) * 1000;

for (const name of functions) {
  const spec = model.functions[name];
  tvm.beginScope();
  const fn = tvm.detachFromCurrentScope(vm.getFunction(spec.symbol));
  const inputs = spec.inputs.map((input) =>
    tvm.detachFromCurrentScope(
      input.name in CONSTANT_INPUTS
        ? tvm.empty(input.shape, input.dtype, dev).copyFrom([CONSTANT_INPUTS[input.name]])
        : randomTensor(input),
    ),
  );
  tvm.endScope();
  /**
   * One call: ms from the first dispatch encoded to the last one done on the GPU; encodeMs,
   * the CPU time to record every dispatch (and, in batches, submit them); and the number of
   * submits and of bind groups made. In batches, the GPU runs each batch while the CPU records
   * the next; in one submit at the sync, the GPU starts only after encodeMs and the two add up.
   */
  const call = async ({ batches = true, reuse = true } = {}) => {
    inBatches = batches;
    device.createBindGroup = reuse ? reusedBindGroup : newBindGroup;
    tvm.beginScope();
    try {
      const submitted = submits;
      const made = bindGroupsMade;
      const begin = performance.now();
      fn(...inputs, params.get(spec.params));
      const encoded = performance.now();
      await dev.sync();
      const ms = performance.now() - begin;
      const bindGroups = bindGroupsMade - made;
      return { ms, encodeMs: encoded - begin, submits: submits - submitted, bindGroups };
    } finally {
      tvm.endScope();
    }
  };
  /**
   * What one call computes, in brief: its output's size, its values that are not finite, and
   * OUTPUT_SAMPLES of them spread evenly over it (null where not finite). Runs of one library
   * draw the same weights and inputs, so the report can set a run on subgroup matrices beside
   * the run on the library's own kernels.
   */
  const output = async () => {
    tvm.beginScope();
    try {
      const result = fn(...inputs, params.get(spec.params));
      const host = tvm.empty(result.shape, result.dtype, tvm.cpu()).copyFrom(result);
      await dev.sync();
      const array = host.toArray();
      // decode_image packs RGBA8 pixels in 32-bit words: its values are their bytes.
      const values = Array.from(result.dtype === "int32" ? new Uint8Array(array.buffer) : array);
      const step = Math.max(1, Math.floor(values.length / OUTPUT_SAMPLES));
      const sample = values.filter((_, i) => i % step === 0).slice(0, OUTPUT_SAMPLES);
      return {
        size: values.length,
        nonfinite: values.filter((v) => !Number.isFinite(v)).length,
        sample: sample.map((v) => (Number.isFinite(v) ? v : null)),
      };
    } finally {
      tvm.endScope();
    }
  };
  for (let i = 0; i < warmup; i++) log(`${name} warm-up ${(await call()).ms.toFixed(1)} ms`);
  const ways = {
    page: { batches: true, reuse: true },
    oneSubmit: { batches: false, reuse: true },
    newBindGroups: { batches: false, reuse: false },
  };
  const timed = Object.fromEntries(Object.keys(ways).map((way) => [way, []]));
  const timing = performance.now();
  const page = timed.page;
  while (page.length < iterations && (page.length === 0 || performance.now() - timing < budgetMs)) {
    // Every way each round, in rotating order: the same conditions for all.
    const order = Object.keys(ways);
    for (let i = 0; i < page.length % order.length; i++) order.push(order.shift());
    for (const way of order) timed[way].push(await call(ways[way]));
  }
  const ms = page.map((t) => t.ms);
  const sorted = [...ms].sort((a, b) => a - b);
  log(`${name}: ${ms.length} calls, median ${sorted[sorted.length >> 1].toFixed(1)} ms`);
  const entry = {
    ms,
    encode_ms: page.map((t) => t.encodeMs),
    submits: page[0].submits,
    one_submit_ms: timed.oneSubmit.map((t) => t.ms),
    one_submit_encode_ms: timed.oneSubmit.map((t) => t.encodeMs),
    new_bind_groups_ms: timed.newBindGroups.map((t) => t.ms),
    new_bind_groups_encode_ms: timed.newBindGroups.map((t) => t.encodeMs),
    bind_groups: page.map((t) => t.bindGroups),
    new_bind_groups: timed.newBindGroups.map((t) => t.bindGroups),
    output: await output(),
  };
  if (timestamps) {
    profiler.start(device);
    await call();
    const passes = await profiler.stop();
    const kernels = {};
    let first = null;
    let last = null;
    for (const { name: kernel, begin, end } of passes) {
      const k = (kernels[kernel] ??= { calls: 0, ns: 0 });
      k.calls += 1;
      k.ns += Number(end - begin);
      if (first === null || begin < first) first = begin;
      if (last === null || end > last) last = end;
    }
    entry.profile = { passes: passes.length, span_ns: Number(last - first), kernels };
  }
  result.functions[name] = entry;
  save();
  for (const input of inputs) input.dispose();
  fn.dispose();
}
log("done");
process.exit(0);
