/**
 * Finding a WebGPU adapter that can run a model, and opening a device on it.
 *
 * The device asks for exactly the features and limits the manifest lists, no more: a device
 * with raised limits can fail where one with the model's needs would not, and the manifest
 * already holds what the compiled kernels need. Each refusal becomes a message that says what
 * is missing, for the page to show.
 */

import { WebsdError } from "./errors";

/** `manifest.webgpu`: what the compiled model needs of the device. */
export interface GpuNeeds {
  features: readonly string[];
  limits: Readonly<Record<string, number>>;
}

const MiB = 2 ** 20;

/** Works in windows and workers alike (both have `isSecureContext` and `navigator`). */
export async function findAdapter(): Promise<GPUAdapter> {
  if (!globalThis.isSecureContext) {
    throw new WebsdError(
      "insecure-context",
      "WebGPU only works on secure pages: open this page over https, or on localhost.",
    );
  }
  const gpu = (navigator as Partial<Navigator>).gpu;
  if (gpu === undefined) {
    throw new WebsdError(
      "no-webgpu",
      "This browser has no WebGPU, which this playground needs to run the model on your GPU. " +
        "Try a recent Chrome, Edge, Safari or Firefox with WebGPU enabled.",
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (adapter === null) {
    throw new WebsdError(
      "no-adapter",
      "WebGPU is not available: the browser offers no GPU adapter. It may be turned off in the " +
        "browser's settings or flags, or this GPU or driver may not be supported.",
    );
  }
  return adapter;
}

function formatLimit(value: number): string {
  return value >= MiB && value % MiB === 0 ? `${value / MiB} MiB` : String(value);
}

/** Throws the first reason the adapter cannot run a model with these needs. */
export function checkAdapter(adapter: GPUAdapter, needs: GpuNeeds): void {
  const missing = needs.features.filter((f) => !adapter.features.has(f));
  if (missing.includes("shader-f16")) {
    throw new WebsdError(
      "no-shader-f16",
      "This model computes in 16-bit floats (the WebGPU feature shader-f16), which this GPU " +
        "and browser do not offer, and no float32 version of it is published here. Try another " +
        "browser or device.",
    );
  }
  if (missing.length > 0) {
    throw new WebsdError(
      "limits",
      `This model needs the WebGPU feature(s) ${missing.join(", ")}, which this GPU does not offer.`,
    );
  }
  const short: string[] = [];
  const limits = adapter.limits as unknown as Record<string, number | undefined>;
  for (const [name, needed] of Object.entries(needs.limits)) {
    const has = limits[name];
    // min* limits are alignments: smaller is more capable.
    const enough = has !== undefined && (name.startsWith("min") ? has <= needed : has >= needed);
    if (!enough) {
      const offered = has === undefined ? "none" : formatLimit(has);
      short.push(`${name} ${formatLimit(needed)} (this GPU offers ${offered})`);
    }
  }
  if (short.length > 0) {
    throw new WebsdError(
      "limits",
      `This GPU's WebGPU limits are too small for this model: it needs ${short.join(", ")}. ` +
        "Try a device with more GPU memory, or a smaller model.",
    );
  }
}

/** A device with exactly the model's features and limits. */
export async function requestDevice(adapter: GPUAdapter, needs: GpuNeeds): Promise<GPUDevice> {
  checkAdapter(adapter, needs);
  try {
    return await adapter.requestDevice({
      requiredFeatures: needs.features as GPUFeatureName[],
      requiredLimits: { ...needs.limits },
    });
  } catch (error) {
    throw new WebsdError(
      "limits",
      `The GPU refused a device with this model's needs: ${(error as Error).message}`,
    );
  }
}

/** "vendor, architecture / description", for the playground's status line. */
export function describeAdapter(adapter: GPUAdapter): string {
  const info = adapter.info;
  const parts = [info.vendor, info.architecture, info.description].filter((p) => p);
  return parts.join(" ") || "unknown GPU";
}
