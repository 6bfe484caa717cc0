/**
 * diffusers' `EulerDiscreteScheduler`: the Euler method on the probability-flow ODE in σ
 * (Karras et al. 2022, Algorithm 2 without churn).
 */

import { f32 } from "../f32";
import { ConfigReader, type SchedulerConfig } from "./config";
import { arangeDown, interp, linspace, roundHalfEven } from "./numpy";
import {
  checkSameLength,
  indexForTimestep,
  type NoiseSchedule,
  type PredictionType,
  readNoiseSchedule,
  type Scheduler,
  sigmaOfAlphaCumprod,
} from "./schedule";

/** Timesteps (float32, possibly fractional) and their σ, with the final σ appended. */
export interface SigmaSchedule {
  timesteps: number[];
  sigmas: Float32Array;
}

/**
 * The σ schedule of diffusers' Euler schedulers: timesteps spaced per the config, σ linearly
 * interpolated (in float64, as numpy does) between the training σ at integer timesteps.
 */
export function eulerSigmaSchedule(
  schedule: NoiseSchedule,
  numInferenceSteps: number,
  finalSigma: number,
): SigmaSchedule {
  const n = numInferenceSteps;
  const train = schedule.numTrainTimesteps;
  let timesteps: number[];
  switch (schedule.timestepSpacing) {
    case "linspace":
      timesteps = linspace(0, train - 1, n)
        .map(f32)
        .reverse();
      break;
    case "leading": {
      const ratio = Math.floor(train / n);
      timesteps = Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + schedule.stepsOffset);
      break;
    }
    case "trailing":
      timesteps = arangeDown(train, train / n).map((t) => roundHalfEven(t) - 1);
      break;
  }
  const trainSigmas = schedule.alphasCumprod.map(sigmaOfAlphaCumprod);
  const sigmas = new Float32Array(timesteps.length + 1);
  timesteps.forEach((t, i) => {
    sigmas[i] = interp(t, trainSigmas);
  });
  sigmas[timesteps.length] = finalSigma;
  return { timesteps, sigmas };
}

/** x̂₀ from the model output at noise level σ, in diffusers' float32 op order. */
export function eulerDenoised(
  prediction: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  sigma: number,
): Float32Array {
  switch (prediction) {
    case "epsilon":
      return sample.map((x, i) => x - f32(sigma * (modelOutput[i] as number)));
    case "v_prediction": {
      const s2p1 = f32(f32(sigma * sigma) + 1);
      const c = f32(-sigma / f32(Math.sqrt(s2p1)));
      return sample.map((x, i) => f32((modelOutput[i] as number) * c) + f32(x / s2p1));
    }
    case "sample":
      return modelOutput.slice();
  }
}

/** The input scaling x / √(σ² + 1) that both Euler schedulers apply. */
export function scaleBySigma(sample: Float32Array, sigma: number): Float32Array {
  const scale = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
  return sample.map((x) => x / scale);
}

/** `init_noise_sigma`: σ_max, or √(σ_max² + 1) for "leading" spacing. */
export function eulerInitNoiseSigma(schedule: NoiseSchedule, sigmas: Float32Array): number {
  const max = sigmas.reduce((a, b) => Math.max(a, b), 0);
  return schedule.timestepSpacing === "leading" ? f32(Math.sqrt(f32(f32(max * max) + 1))) : max;
}

export class EulerDiscreteScheduler implements Scheduler {
  private readonly schedule: NoiseSchedule;
  private readonly finalSigmasType: "zero" | "sigma_min";
  private sigmas: Float32Array;
  private stepIndex: number | null = null;
  timesteps: number[] = [];

  constructor(config: SchedulerConfig) {
    const reader = new ConfigReader(config, "EulerDiscreteScheduler");
    this.schedule = readNoiseSchedule(reader, {
      betaStart: 0.0001,
      betaEnd: 0.02,
      betaSchedule: "linear",
      timestepSpacing: "linspace",
    });
    this.finalSigmasType = reader.choice("final_sigmas_type", "zero", ["zero", "sigma_min"]);
    reader.unsupported("interpolation_type", "linear");
    reader.unsupported("use_karras_sigmas", false);
    reader.unsupported("use_exponential_sigmas", false);
    reader.unsupported("use_beta_sigmas", false);
    reader.unsupported("timestep_type", "discrete");
    this.sigmas = this.schedule.alphasCumprod.map(sigmaOfAlphaCumprod).reverse();
  }

  get initNoiseSigma(): number {
    return eulerInitNoiseSigma(this.schedule, this.sigmas);
  }

  setTimesteps(numInferenceSteps: number): void {
    const first = this.schedule.alphasCumprod[0] as number;
    const finalSigma = this.finalSigmasType === "zero" ? 0 : sigmaOfAlphaCumprod(first);
    const { timesteps, sigmas } = eulerSigmaSchedule(this.schedule, numInferenceSteps, finalSigma);
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

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    checkSameLength(modelOutput, sample);
    const index = this.indexFor(timestep);
    const sigma = this.sigmas[index] as number;
    const denoised = eulerDenoised(this.schedule.predictionType, modelOutput, sample, sigma);
    const dt = f32((this.sigmas[index + 1] as number) - sigma);
    this.stepIndex = index + 1;
    return sample.map((x, i) => x + f32(f32(f32(x - (denoised[i] as number)) / sigma) * dt));
  }
}
