/**
 * diffusers' `EulerAncestralDiscreteScheduler`: an Euler step down to σ_down, then fresh noise
 * of σ_up, so that σ_down² + σ_up² = σ_next². The noise comes from the caller's generator, the
 * same stream that drew the initial latents, as in diffusers' pipelines.
 */

import { f32 } from "../f32";
import type { TorchGenerator } from "../rng";
import { ConfigReader, type SchedulerConfig } from "./config";
import {
  eulerDenoised,
  eulerInitNoiseSigma,
  eulerSigmaSchedule,
  scaleBySigma,
} from "./euler_discrete";
import {
  checkSameLength,
  indexForTimestep,
  type NoiseSchedule,
  readNoiseSchedule,
  type Scheduler,
  sigmaOfAlphaCumprod,
} from "./schedule";

export class EulerAncestralDiscreteScheduler implements Scheduler {
  private readonly schedule: NoiseSchedule;
  private sigmas: Float32Array;
  private stepIndex: number | null = null;
  timesteps: number[] = [];

  constructor(config: SchedulerConfig) {
    const reader = new ConfigReader(config, "EulerAncestralDiscreteScheduler");
    this.schedule = readNoiseSchedule(reader, {
      betaStart: 0.0001,
      betaEnd: 0.02,
      betaSchedule: "linear",
      timestepSpacing: "linspace",
    });
    this.sigmas = this.schedule.alphasCumprod.map(sigmaOfAlphaCumprod).reverse();
  }

  get initNoiseSigma(): number {
    return eulerInitNoiseSigma(this.schedule, this.sigmas);
  }

  setTimesteps(numInferenceSteps: number): void {
    const { timesteps, sigmas } = eulerSigmaSchedule(this.schedule, numInferenceSteps, 0);
    this.timesteps = timesteps;
    this.sigmas = sigmas;
    this.stepIndex = null;
  }

  private indexFor(timestep: number): number {
    this.stepIndex ??= indexForTimestep(this.timesteps, timestep);
    return this.stepIndex;
  }

  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    return scaleBySigma(sample, this.sigmas[this.indexFor(timestep)] as number);
  }

  step(
    modelOutput: Float32Array,
    timestep: number,
    sample: Float32Array,
    generator?: TorchGenerator,
  ): Float32Array {
    if (generator === undefined) {
      throw new Error("EulerAncestralDiscreteScheduler.step needs a TorchGenerator for its noise");
    }
    checkSameLength(modelOutput, sample);
    const index = this.indexFor(timestep);
    const sigma = this.sigmas[index] as number;
    const next = this.sigmas[index + 1] as number;
    const denoised = eulerDenoised(this.schedule.predictionType, modelOutput, sample, sigma);
    const from2 = f32(sigma * sigma);
    const to2 = f32(next * next);
    const sigmaUp = f32(Math.sqrt(f32(f32(to2 * f32(from2 - to2)) / from2)));
    const sigmaDown = f32(Math.sqrt(f32(to2 - f32(sigmaUp * sigmaUp))));
    const dt = f32(sigmaDown - sigma);
    const noise = generator.randn(sample.length);
    this.stepIndex = index + 1;
    return sample.map((x, i) => {
      const euler = f32(x + f32(f32(f32(x - (denoised[i] as number)) / sigma) * dt));
      return euler + f32((noise[i] as number) * sigmaUp);
    });
  }
}
