/**
 * Subgroup-matrix kernels: WGSL that stands in for a library's GEMM kernels where the adapter
 * multiplies on subgroup matrices (tensor cores), Dawn's experimental
 * `chromium-experimental-subgroup-matrix` (Chrome offers it with --enable-unsafe-webgpu).
 *
 * The compiler writes them for one fragment shape and subgroup size (websd.matrix_kernels),
 * each with the parameters and workgroup grid of the library kernel it replaces, under the
 * same entry point. tvmjs makes one shader module per kernel and takes its workgroup size from
 * the WGSL, so swapping the code as the module is made is all it takes; every other kernel,
 * and every adapter without the feature or the shape, keeps the library's own.
 */

import type { GpuNeeds } from "./gpu";
import type { MatrixConfig, MatrixKernelsRef } from "./manifest";

export const MATRIX_FEATURE = "chromium-experimental-subgroup-matrix";

/** The compiler's file of subgroup-matrix kernels: their WGSL by entry point. */
export interface MatrixKernels {
  config: MatrixConfig;
  kernels: Record<string, string>;
}

/** One of `GPUAdapterInfo.subgroupMatrixConfigs`, which the DOM types do not have yet. */
interface AdapterMatrixConfig {
  M: number;
  N: number;
  K: number;
  componentType: string;
  resultComponentType: string;
}

/** Why the adapter cannot run kernels written for `config`, or null when it can. */
export function matrixUnsupported(adapter: GPUAdapter, config: MatrixConfig): string | null {
  if (!adapter.features.has(MATRIX_FEATURE)) return `the adapter offers no ${MATRIX_FEATURE}`;
  if (!adapter.features.has("shader-f16")) return "the adapter offers no shader-f16";
  const info = adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: AdapterMatrixConfig[] };
  const shape = `${config.m}×${config.n}×${config.k}`;
  const offered = (info.subgroupMatrixConfigs ?? []).some(
    (c) =>
      c.M === config.m &&
      c.N === config.n &&
      c.K === config.k &&
      c.componentType === "f16" &&
      c.resultComponentType === "f32",
  );
  if (!offered) return `the adapter has no float16 → float32 subgroup matrices of ${shape}`;
  const { subgroupMinSize, subgroupMaxSize } = info;
  if (subgroupMinSize !== config.subgroup_size || subgroupMaxSize !== config.subgroup_size) {
    return (
      `the kernels are written for subgroups of ${config.subgroup_size}, ` +
      `the adapter's are ${subgroupMinSize} to ${subgroupMaxSize}`
    );
  }
  return null;
}

/** The first of a model's sets of subgroup-matrix kernels that the adapter runs, if any. */
export function pickMatrixKernels(
  adapter: GPUAdapter,
  sets: readonly MatrixKernelsRef[] = [],
): MatrixKernelsRef | undefined {
  return sets.find((set) => matrixUnsupported(adapter, set.config) === null);
}

/** A model's device needs, and the feature its subgroup-matrix kernels need where it uses any. */
export function withMatrixFeature(needs: GpuNeeds, uses?: MatrixKernelsRef): GpuNeeds {
  return uses === undefined ? needs : { ...needs, features: [...needs.features, MATRIX_FEATURE] };
}

/** The entry point of a kernel's WGSL: tvmjs's shaders each hold one compute function. */
export function entryPoint(code: string): string | undefined {
  return /@compute\b[^]*?\bfn\s+(\w+)\s*\(/.exec(code)?.[1];
}

/** The first error the device finds in the WGSL of a set's kernels, or null: the feature is
 * experimental, and a browser may no longer take what the set was written for. */
export async function matrixKernelsError(
  device: GPUDevice,
  kernels: MatrixKernels,
): Promise<string | null> {
  for (const [name, code] of Object.entries(kernels.kernels)) {
    device.pushErrorScope("validation");
    device.createShaderModule({ code });
    const error = await device.popErrorScope();
    if (error !== null) return `${name}: ${error.message}`;
  }
  return null;
}

/** Makes `device` create each kernel of `kernels` from its subgroup-matrix WGSL; returns the
 * entry points it swapped so far. Call before the library's pipelines are made. */
export function useMatrixKernels(device: GPUDevice, kernels: MatrixKernels): () => string[] {
  const createShaderModule = device.createShaderModule.bind(device);
  const swapped: string[] = [];
  device.createShaderModule = (descriptor) => {
    const name = entryPoint(descriptor.code);
    const code = name === undefined ? undefined : kernels.kernels[name];
    if (name === undefined || code === undefined) return createShaderModule(descriptor);
    swapped.push(name);
    return createShaderModule({ ...descriptor, code });
  };
  return () => [...swapped];
}
