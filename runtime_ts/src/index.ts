/** websd's browser runtime: the public API. */

export {
  type FileRef,
  type FunctionSig,
  type Manifest,
  MANIFEST_FORMAT,
  MANIFEST_FORMAT_VERSION,
  MANIFEST_NAME,
  ManifestError,
  parseManifest,
  type TensorSpec,
} from "./manifest";
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
