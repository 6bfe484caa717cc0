/**
 * diffusers' `LCMScheduler`, for latent-consistency and other few-step distilled models: each step
 * maps the sample to the consistency function's x̂₀ (c_skip·x + c_out·x̂₀), then, except at the
 * last step, re-noises it to the next timestep with noise from the caller's generator.
 */

import { f32 } from "../f32";
import type { TorchGenerator } from "../rng";
import { ConfigReader, type SchedulerConfig } from "./config";
import { denoisedAndNoise } from "./ddim";
import { linspace } from "./numpy";
import {
  alphaCumprodAt,
  checkSameLength,
  indexForTimestep,
  type NoiseSchedule,
  readNoiseSchedule,
  type Scheduler,
} from "./schedule";

export class LCMScheduler implements Scheduler {
  private readonly schedule: NoiseSchedule;
  private readonly clip: number | null;
  private readonly finalAlphaCumprod: number;
  private readonly originalInferenceSteps: number;
  private readonly timestepScaling: number;
  private stepIndex: number | null = null;
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];

  constructor(config: SchedulerConfig) {
    const reader = new ConfigReader(config, "LCMScheduler");
    this.schedule = readNoiseSchedule(reader, {
      betaStart: 0.00085,
      betaEnd: 0.012,
      betaSchedule: "scaled_linear",
      timestepSpacing: "leading",
    });
    reader.unsupported("thresholding", false);
    const range = reader.number("clip_sample_range", 1);
    this.clip = reader.boolean("clip_sample", false) ? f32(range) : null;
    const first = this.schedule.alphasCumprod[0] as number;
    this.finalAlphaCumprod = reader.boolean("set_alpha_to_one", true) ? 1 : first;
    this.originalInferenceSteps = reader.integer("original_inference_steps", 50);
    this.timestepScaling = reader.number("timestep_scaling", 10);
  }

  /**
   * A subset of the distillation schedule: `original_inference_steps` evenly spaced training
   * timesteps, of which n are taken at evenly spaced positions from the noisiest.
   */
  setTimesteps(numInferenceSteps: number): void {
    const n = numInferenceSteps;
    const original = this.originalInferenceSteps;
    const train = this.schedule.numTrainTimesteps;
    if (original > train)
      throw new RangeError(`LCM: original_inference_steps ${original} > ${train}`);
    if (n > train || n > original) {
      throw new RangeError(`LCM: ${n} steps exceed original_inference_steps (${original})`);
    }
    const k = Math.floor(train / original);
    const origin = Array.from({ length: original }, (_, i) => (original - i) * k - 1);
    this.timesteps = linspace(0, original, n, false).map((x) => origin[Math.floor(x)] as number);
    this.stepIndex = null;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(
    modelOutput: Float32Array,
    timestep: number,
    sample: Float32Array,
    generator?: TorchGenerator,
  ): Float32Array {
    checkSameLength(modelOutput, sample);
    this.stepIndex ??= indexForTimestep(this.timesteps, timestep);
    const index = this.stepIndex;
    const prevTimestep = this.timesteps[index + 1] ?? timestep;
    const alphaProd = alphaCumprodAt(this.schedule, timestep);
    const alphaPrev =
      prevTimestep >= 0 ? alphaCumprodAt(this.schedule, prevTimestep) : this.finalAlphaCumprod;
    // Boundary-condition scalings with σ_data = 0.5, on the scaled timestep.
    const scaled = f32(timestep * f32(this.timestepScaling));
    const scaled2 = f32(scaled * scaled);
    const cSkip = f32(0.25 / f32(scaled2 + 0.25));
    const cOut = f32(scaled / f32(Math.sqrt(f32(scaled2 + 0.25))));
    const { denoised } = denoisedAndNoise(
      this.schedule.predictionType,
      modelOutput,
      sample,
      alphaProd,
      this.clip,
    );
    const consistent = denoised.map((x0, i) => f32(cOut * x0) + f32(cSkip * (sample[i] as number)));
    this.stepIndex = index + 1;
    if (index === this.timesteps.length - 1) return consistent;
    if (generator === undefined) {
      throw new Error("LCMScheduler.step needs a TorchGenerator for its noise");
    }
    const noise = generator.randn(sample.length);
    const sqrtPrev = f32(Math.sqrt(alphaPrev));
    const sqrtBetaPrev = f32(Math.sqrt(f32(1 - alphaPrev)));
    return consistent.map((x, i) => f32(sqrtPrev * x) + f32(sqrtBetaPrev * (noise[i] as number)));
  }
}
