/**
 * websd's browser runtime, the module pages load (websd.js): it defines `<websd-playground>`
 * and exports the API the playground is built on.
 */

import { definePlayground } from "./playground";

export {
  checkSupport,
  clearCachedWeights,
  createPipeline,
  type GenerateOptions,
  isCached,
  loadModelInfo,
  type ModelInfo,
  type PipelineOptions,
  type Progress,
  randomSeed,
  type StableDiffusion,
  type Support,
} from "./client";
export { type ErrorCode, WebsdError } from "./errors";
export {
  type FileRef,
  findSize,
  type FunctionSig,
  type ImageSize,
  type Manifest,
  MANIFEST_FORMAT,
  MANIFEST_FORMAT_VERSION,
  MANIFEST_NAME,
  ManifestError,
  parseManifest,
  SIZED_FUNCTIONS,
  type SizedFunction,
  sizeName,
  type TensorSpec,
  type Variant,
} from "./manifest";
export type { GeneratedImage, RgbaImage } from "./pipeline";
export { encodePng } from "./png";
export { WebsdPlayground } from "./playground";
export { TorchGenerator } from "./rng";
export {
  createScheduler,
  DDIMScheduler,
  DPMSolverMultistepScheduler,
  EulerAncestralDiscreteScheduler,
  EulerDiscreteScheduler,
  isSchedulerId,
  LCMScheduler,
  type PredictionType,
  SCHEDULER_IDS,
  type Scheduler,
  type SchedulerConfig,
  type SchedulerId,
  type TimestepSpacing,
} from "./schedulers";

definePlayground();
