/** The samplers websd offers, by the ids the manifest's `default_scheduler` and the UI use. */

import type { SchedulerConfig } from "./config";
import { DDIMScheduler } from "./ddim";
import { DPMSolverMultistepScheduler } from "./dpmsolver_multistep";
import { EulerAncestralDiscreteScheduler } from "./euler_ancestral_discrete";
import { EulerDiscreteScheduler } from "./euler_discrete";
import { LCMScheduler } from "./lcm";
import type { Scheduler } from "./schedule";

const SCHEDULERS = {
  "dpm++2m": DPMSolverMultistepScheduler,
  euler: EulerDiscreteScheduler,
  "euler-a": EulerAncestralDiscreteScheduler,
  ddim: DDIMScheduler,
  lcm: LCMScheduler,
} as const satisfies Record<string, new (config: SchedulerConfig) => Scheduler>;

export type SchedulerId = keyof typeof SCHEDULERS;
export const SCHEDULER_IDS = Object.keys(SCHEDULERS) as SchedulerId[];

export function isSchedulerId(id: string): id is SchedulerId {
  return Object.hasOwn(SCHEDULERS, id);
}

/**
 * A scheduler built from a diffusers scheduler config of any class (like diffusers'
 * `from_config`): shared keys such as the beta schedule and prediction type carry over.
 */
export function createScheduler(id: SchedulerId, config: SchedulerConfig): Scheduler {
  const Class: new (config: SchedulerConfig) => Scheduler = SCHEDULERS[id];
  if (Class === undefined) {
    throw new Error(`unknown scheduler "${id}"; expected one of ${SCHEDULER_IDS.join(", ")}`);
  }
  return new Class(config);
}

export type { SchedulerConfig } from "./config";
export type { PredictionType, Scheduler, TimestepSpacing } from "./schedule";
export { DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler };
export { EulerDiscreteScheduler, LCMScheduler };
