/**
 * WebGPU in node, from npm `webgpu` (Dawn): the globals a page gives the runtime, so that its
 * own adapter and device code (src/gpu.ts) runs unchanged. Dawn in node reaches the Vulkan
 * drivers Chromium does not use for WebGPU, such as Mesa's lavapipe, which has shader-f16.
 */

import { createRequire } from "node:module";
import { join } from "node:path";

interface WebgpuPackage {
  create(dawnOptions: string[]): GPU;
  globals: object;
}

/** `navigator.gpu` and the WebGPU classes from the `webgpu` package installed in `dir`, on a
 * Dawn instance with `features` (Dawn's toggles) enabled. */
export function installWebgpu(dir: string, features: string[] = []): void {
  const webgpu = createRequire(join(dir, "package.json"))(dir) as WebgpuPackage;
  const options = features.length ? [`enable-dawn-features=${features.join(",")}`] : [];
  Object.assign(globalThis, webgpu.globals, {
    navigator: { gpu: webgpu.create(options) },
    isSecureContext: true,
  });
}
