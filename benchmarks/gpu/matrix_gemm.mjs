/**
 * What subgroup matrices (tensor cores, through Dawn's experimental
 * `chromium-experimental-subgroup-matrix`) do for a float16 GEMM on this adapter: one kernel of
 * its own, tiled in workgroup memory, times each GEMM shape given and checks its products.
 *
 *   node matrix_gemm.mjs --webgpu DIR --out result.json --shapes 8192x2560x320,...
 *                        [--iterations 10]
 *
 * DIR holds npm webgpu's index.js. A shape MxNxK multiplies an M × K matrix by a K × N one,
 * both float16, summed in float32 where the adapter offers it. The result (rewritten after each
 * shape) says which subgroup-matrix shape the kernel used, or why none ran.
 * Progress goes to stderr.
 */

import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { uniforms } from "./xorshift.mjs";

const FEATURE = "chromium-experimental-subgroup-matrix";
/** Outputs of a workgroup (rows, columns), and the depth of k it stages at a time. */
const TILE = { m: 128, n: 128, k: 32 };
const INVOCATIONS = 128;
/** f16 values that pad each staged row, so that rows start in different banks (16-byte steps). */
const PAD = 8;
/** Products checked on the CPU per shape. */
const CHECKED = 256;
/** Wall time one timed submit aims for: enough dispatches that the GPU's, not the CPU's, counts. */
const SUBMIT_MS = 20;
const MAX_REPEATS = 200;

const { values: args } = parseArgs({
  options: {
    webgpu: { type: "string" },
    out: { type: "string" },
    shapes: { type: "string" },
    iterations: { type: "string", default: "10" },
  },
});
for (const name of ["webgpu", "out", "shapes"]) {
  if (args[name] === undefined) throw new Error(`--${name} is required`);
}

const start = performance.now();
function log(message) {
  const seconds = ((performance.now() - start) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[matrix ${seconds} s] ${message}\n`);
}

const result = { shapes: [], errors: [] };
const save = () => writeFileSync(args.out, JSON.stringify(result, null, 1) + "\n");

/**
 * The subgroup-matrix shape to use: float16 operands, a float32 sum where offered, and the most
 * work per multiply-accumulate.
 */
function pickConfig(configs) {
  const half = configs.filter((c) => c.componentType === "f16");
  const rank = (c) => [c.resultComponentType === "f32" ? 1 : 0, c.M * c.N * c.K];
  half.sort((a, b) => {
    const [ra, rb] = [rank(a), rank(b)];
    return rb[0] - ra[0] || rb[1] - ra[1];
  });
  return half[0];
}

/**
 * How the workgroup's subgroups share its tile: a grid of rows × columns of subgroups, each
 * owning a block of fragments (subgroup-matrix results) of the tile.
 */
function layout(config, subgroupSize) {
  const subgroups = INVOCATIONS / subgroupSize;
  const rows = 2 ** Math.floor(Math.log2(subgroups) / 2);
  const columns = subgroups / rows;
  const fragments = { m: TILE.m / config.M / rows, n: TILE.n / config.N / columns };
  const fits =
    Number.isInteger(subgroups) &&
    Number.isInteger(columns) &&
    Number.isInteger(fragments.m) &&
    Number.isInteger(fragments.n) &&
    fragments.m >= 1 &&
    fragments.n >= 1 &&
    TILE.k % config.K === 0;
  return fits ? { subgroups, rows, columns, fragments } : null;
}

/**
 * The GEMM kernel's WGSL: C (M × N) = A (M × K) · B (K × N), row-major, for M, N and K that are
 * multiples of the tile. Each k step, the workgroup stages a tile of A and of B in workgroup
 * memory; each subgroup multiplies its rows of A's tile by its columns of B's, in fragments
 * unrolled into variables of their own.
 */
function gemmWgsl(config, subgroupSize, { m, n, k }) {
  const { columns, fragments } = layout(config, subgroupSize);
  const { M: fm, N: fn, K: fk } = config;
  const result = config.resultComponentType;
  const strideA = TILE.k + PAD;
  const strideB = TILE.n + PAD;
  const vectors = (count) => count / 8 / INVOCATIONS; // vec4<u32> loads per invocation
  const left = `subgroup_matrix_left<f16, ${fk}, ${fm}>`;
  const right = `subgroup_matrix_right<f16, ${fn}, ${fk}>`;
  const acc = (i, j) => `acc_${i}_${j}`;
  const lines = [];
  const each = (count, body) => {
    for (let i = 0; i < count; i++) lines.push(body(i));
  };
  lines.push(
    "enable f16;",
    "enable chromium_experimental_subgroup_matrix;",
    "@group(0) @binding(0) var<storage, read> A : array<vec4<u32>>;",
    "@group(0) @binding(1) var<storage, read> B : array<vec4<u32>>;",
    `@group(0) @binding(2) var<storage, read_write> C : array<${result}>;`,
    `var<workgroup> tileA : array<f16, ${TILE.m * strideA}>;`,
    `var<workgroup> tileB : array<f16, ${TILE.k * strideB}>;`,
    "fn halves(v : vec4<u32>) -> array<f16, 8> {",
    "  let a = bitcast<vec2<f16>>(v.x); let b = bitcast<vec2<f16>>(v.y);",
    "  let c = bitcast<vec2<f16>>(v.z); let d = bitcast<vec2<f16>>(v.w);",
    "  return array<f16, 8>(a.x, a.y, b.x, b.y, c.x, c.y, d.x, d.y);",
    "}",
    `@compute @workgroup_size(${INVOCATIONS})`,
    "fn main(@builtin(workgroup_id) wg : vec3<u32>, @builtin(local_invocation_index) lid : u32,",
    "        @builtin(subgroup_id) subgroup : u32) {",
    `  let row0 = wg.y * ${TILE.m}u;`,
    `  let col0 = wg.x * ${TILE.n}u;`,
    `  let sub_row = (subgroup / ${columns}u) * ${fragments.m * fm}u;`,
    `  let sub_col = (subgroup % ${columns}u) * ${fragments.n * fn}u;`,
  );
  for (let i = 0; i < fragments.m; i++) {
    each(
      fragments.n,
      (j) => `  var ${acc(i, j)} = subgroup_matrix_result<${result}, ${fn}, ${fm}>();`,
    );
  }
  lines.push(`  for (var k0 = 0u; k0 < ${k}u; k0 += ${TILE.k}u) {`);
  /** Copies a tile of `rows` × `columns` values into workgroup array `tile`, 8 per vector load:
   * row r, column c of the tile is `source`'s element `first(r, c)`. */
  const stage = (tile, source, rows, columns, stride, first) =>
    each(vectors(rows * columns), (v) => {
      const index = `lid + ${v * INVOCATIONS}u`;
      return [
        `    { let r = (${index}) / ${columns / 8}u; let c = ((${index}) % ${columns / 8}u) * 8u;`,
        `      let h = halves(${source}[(${first("r", "c")}) / 8u]);`,
        `      for (var e = 0u; e < 8u; e++) { ${tile}[r * ${stride}u + c + e] = h[e]; } }`,
      ].join("\n");
    });
  stage("tileA", "A", TILE.m, TILE.k, strideA, (r, c) => `(row0 + ${r}) * ${k}u + k0 + ${c}`);
  stage("tileB", "B", TILE.k, TILE.n, strideB, (r, c) => `(k0 + ${r}) * ${n}u + col0 + ${c}`);
  lines.push("    workgroupBarrier();");
  for (let kk = 0; kk < TILE.k; kk += fk) {
    each(fragments.m, (i) => {
      const offset = `(sub_row + ${i * fm}u) * ${strideA}u + ${kk}u`;
      return `    let a_${kk}_${i} = subgroupMatrixLoad<${left}, row_major>(&tileA, ${offset}, ${strideA}u);`;
    });
    each(fragments.n, (j) => {
      const offset = `${kk * strideB}u + sub_col + ${j * fn}u`;
      return `    let b_${kk}_${j} = subgroupMatrixLoad<${right}, row_major>(&tileB, ${offset}, ${strideB}u);`;
    });
    for (let i = 0; i < fragments.m; i++) {
      each(
        fragments.n,
        (j) =>
          `    ${acc(i, j)} = subgroupMatrixMultiplyAccumulate(a_${kk}_${i}, b_${kk}_${j}, ${acc(i, j)});`,
      );
    }
  }
  lines.push("    workgroupBarrier();", "  }");
  for (let i = 0; i < fragments.m; i++) {
    each(fragments.n, (j) => {
      const offset = `(row0 + sub_row + ${i * fm}u) * ${n}u + col0 + sub_col + ${j * fn}u`;
      return `  subgroupMatrixStore<row_major>(&C, ${offset}, ${acc(i, j)}, ${n}u);`;
    });
  }
  lines.push("}");
  return lines.join("\n");
}

/** Deterministic float16 operands: multiples of 1/8 in [-1, 1], whose sums float32 holds exactly. */
function operands(count, seed) {
  const values = uniforms(count, seed).map((u) => Math.floor(u * 17 - 8) / 8);
  return { values, bits: Uint16Array.from(values, halfBits) };
}

/** The float16 bits of a multiple of 1/8 in [-1, 1]. */
function halfBits(x) {
  if (x === 0) return 0;
  const sign = x < 0 ? 0x8000 : 0;
  const exponent = Math.floor(Math.log2(Math.abs(x)));
  const mantissa = Math.round((Math.abs(x) / 2 ** exponent - 1) * 1024);
  return sign | ((exponent + 15) << 10) | mantissa;
}

/** float16 bits → number. */
function fromHalf(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

async function runShape(device, config, subgroupSize, shape) {
  const { m, n, k } = shape;
  const module = device.createShaderModule({ code: gemmWgsl(config, subgroupSize, shape) });
  const messages = (await module.getCompilationInfo()).messages.filter((x) => x.type === "error");
  if (messages.length) {
    throw new Error(messages.map((x) => `${x.lineNum}: ${x.message}`).join("; "));
  }
  const pipeline = await device.createComputePipelineAsync({
    layout: "auto",
    compute: { module, entryPoint: "main" },
  });
  const a = operands(m * k, 1);
  const b = operands(k * n, 2);
  const upload = (data) => {
    const buffer = device.createBuffer({
      size: data.byteLength,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  };
  const resultBytes = m * n * (config.resultComponentType === "f32" ? 4 : 2);
  const output = device.createBuffer({
    size: resultBytes,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
  });
  const buffers = [upload(a.bits), upload(b.bits), output];
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const run = async (repeats) => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    for (let i = 0; i < repeats; i++) pass.dispatchWorkgroups(n / TILE.n, m / TILE.m);
    pass.end();
    const begin = performance.now();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    return (performance.now() - begin) / repeats;
  };
  const once = await run(1);
  const repeats = Math.max(1, Math.min(MAX_REPEATS, Math.ceil(SUBMIT_MS / once)));
  const ms = [];
  for (let i = 0; i < Number(args.iterations); i++) ms.push(await run(repeats));

  const readback = device.createBuffer({
    size: resultBytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(output, 0, readback, 0, resultBytes);
  device.queue.submit([encoder.finish()]);
  await readback.mapAsync(GPUMapMode.READ);
  const f32 = config.resultComponentType === "f32";
  const range = readback.getMappedRange();
  const got = f32 ? new Float32Array(range) : new Uint16Array(range);
  // Products at random rows and columns: every tile, fragment and staged vector is as likely.
  const rows = uniforms(CHECKED, 3);
  const columns = uniforms(CHECKED, 4);
  let error = 0;
  for (let s = 0; s < CHECKED; s++) {
    const [i, j] = [Math.floor(rows[s] * m), Math.floor(columns[s] * n)];
    const index = i * n + j;
    let sum = 0;
    for (let x = 0; x < k; x++) sum += a.values[i * k + x] * b.values[x * n + j];
    const value = f32 ? got[index] : fromHalf(got[index]);
    error = Math.max(error, Math.abs(value - sum) / Math.max(1, Math.abs(sum)));
  }
  readback.unmap();
  for (const buffer of [...buffers, readback]) buffer.destroy();
  return { m, n, k, repeats, ms, relative_error: error, checked: CHECKED };
}

const { create, globals } = await import(pathToFileURL(join(resolve(args.webgpu), "index.js")));
Object.assign(globalThis, globals);
// Held for the whole run: dawn.node crashes if a GPU object is collected under its adapter.
const gpu = create(["enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia"]);
const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
if (adapter === null) throw new Error("Dawn found no WebGPU adapter");
const { subgroupMinSize, subgroupMaxSize, description } = adapter.info;
result.adapter = description;
result.subgroup_sizes = [subgroupMinSize, subgroupMaxSize];
const config = pickConfig(adapter.info.subgroupMatrixConfigs ?? []);
const missing = [FEATURE, "shader-f16"].filter((feature) => !adapter.features.has(feature));
if (missing.length) {
  result.skipped = `the adapter offers no ${missing.join(" nor ")}`;
} else if (config === undefined) {
  result.skipped = "the adapter's subgroup matrices take no float16 operands";
} else if (subgroupMinSize !== subgroupMaxSize) {
  result.skipped = `subgroups of ${subgroupMinSize} to ${subgroupMaxSize}: the kernel is built for one size`;
} else if (layout(config, subgroupMinSize) === null) {
  result.skipped = `no layout of ${config.M}×${config.N}×${config.K} fragments for subgroups of ${subgroupMinSize}`;
}
if (result.skipped) {
  save();
  log(`skipped: ${result.skipped}`);
  process.exit(0);
}
const { M, N, K, resultComponentType } = config;
result.config = `f16→${resultComponentType} ${M}×${N}×${K}`;
result.tile = [TILE.m, TILE.n, TILE.k];
result.layout = layout(config, subgroupMinSize);
save();
const device = await adapter.requestDevice({
  requiredFeatures: [FEATURE, "shader-f16"],
  requiredLimits: { maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize },
});
device.addEventListener("uncapturederror", (event) => {
  result.errors.push(event.error.message);
  save();
});
for (const text of args.shapes.split(",")) {
  const [m, n, k] = text.split("x").map(Number);
  if (![m % TILE.m, n % TILE.n, k % TILE.k].every((r) => r === 0)) {
    throw new Error(
      `shape ${text}: M, N and K must be multiples of ${TILE.m}, ${TILE.n}, ${TILE.k}`,
    );
  }
  const measured = await runShape(device, config, subgroupMinSize, { m, n, k });
  result.shapes.push(measured);
  save();
  const sorted = [...measured.ms].sort((x, y) => x - y);
  log(
    `${text}: median ${sorted[sorted.length >> 1].toFixed(3)} ms, error ${measured.relative_error}`,
  );
}
log("done");
process.exit(0);
