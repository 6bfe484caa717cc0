/**
 * What the runtime does to a model's device, for the GPU benchmark (plain JavaScript, bundled
 * from this as benchmarks/gpu/websd-device.mjs): bind groups reused, and the GEMM kernels
 * swapped for subgroup-matrix ones where the adapter has them.
 */

export { reuseBindGroups } from "./bind_groups";
export { MATRIX_FEATURE, matrixUnsupported, useMatrixKernels } from "./matrix_kernels";
