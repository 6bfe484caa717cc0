/** websd's browser runtime: the public API. */

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
