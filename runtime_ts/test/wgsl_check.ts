/**
 * Validates WGSL on npm `webgpu` (Dawn), for kernels that the adapter at hand cannot run: each
 * kernel's shader module, then its compute pipeline, with the validation error of each (or
 * null). Dawn checks a module's subgroup-matrix types and builtins whatever their shape, and
 * refuses a shape the device lacks only when a pipeline is made.
 *
 *   node test/node.mjs wgsl_check --webgpu DIR --kernels JSON --out REPORT
 *
 * DIR is the installed `webgpu` package; JSON a file of {label: one kernel's WGSL}; REPORT the
 * file the {label: {module, pipeline}} report is written to.
 */

import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { entryPoint, MATRIX_FEATURE } from "../src/matrix_kernels";
import { installWebgpu } from "./node_webgpu";

const { values: args } = parseArgs({
  options: { webgpu: { type: "string" }, kernels: { type: "string" }, out: { type: "string" } },
});
if (args.webgpu === undefined || args.kernels === undefined || args.out === undefined) {
  throw new Error("usage: node.mjs wgsl_check --webgpu DIR --kernels JSON --out REPORT");
}
installWebgpu(args.webgpu, ["allow_unsafe_apis"]);
const adapter = await navigator.gpu.requestAdapter();
if (adapter === null) throw new Error("Dawn found no WebGPU adapter");
const features = ["shader-f16", MATRIX_FEATURE].filter((f) => adapter.features.has(f));
const device = await adapter.requestDevice({
  requiredFeatures: features as GPUFeatureName[],
  requiredLimits: {
    maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
  },
});

/** The validation error that `make` raises, or null. */
async function validationError(make: () => void): Promise<string | null> {
  device.pushErrorScope("validation");
  make();
  return (await device.popErrorScope())?.message ?? null;
}

const kernels = JSON.parse(readFileSync(args.kernels, "utf8")) as Record<string, string>;
const report: Record<string, { module: string | null; pipeline: string | null }> = {};
for (const [label, code] of Object.entries(kernels)) {
  let module: GPUShaderModule | undefined;
  const moduleError = await validationError(() => {
    module = device.createShaderModule({ code });
  });
  const pipelineError = await validationError(() => {
    device.createComputePipeline({
      layout: "auto",
      compute: { module: module as GPUShaderModule, entryPoint: entryPoint(code) ?? "" },
    });
  });
  report[label] = { module: moduleError, pipeline: pipelineError };
}
writeFileSync(args.out, JSON.stringify(report, null, 1));
