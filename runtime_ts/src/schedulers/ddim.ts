/**
 * diffusers' `DDIMScheduler` with η = 0 (what the Stable Diffusion pipelines use): the
 * deterministic DDIM update from x̂₀ and ε̂ at ᾱ_t to ᾱ_prev.
 */

import { f32 } from "../f32";
import { ConfigReader, type SchedulerConfig } from "./config";
import { arangeDown, linspace, roundHalfEven } from "./numpy";
import {
  alphaCumprodAt,
  checkSameLength,
  type NoiseSchedule,
  type PredictionType,
  readNoiseSchedule,
  type Scheduler,
} from "./schedule";

/**
 * x̂₀ and ε̂ from the model output at ᾱ_t, in diffusers' float32 op order; x̂₀ clamped to
 * ±`clip` when the config asks. Shared with LCM, which reads x̂₀ the same way.
 */
export function denoisedAndNoise(
  prediction: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  alphaProd: number,
  clip: number | null,
): { denoised: Float32Array; noise: Float32Array } {
  const sqrtAlpha = f32(Math.sqrt(alphaProd));
  const sqrtBeta = f32(Math.sqrt(f32(1 - alphaProd)));
  let denoised: Float32Array;
  let noise: Float32Array;
  switch (prediction) {
    case "epsilon":
      denoised = sample.map(
        (x, i) => f32(x - f32(sqrtBeta * (modelOutput[i] as number))) / sqrtAlpha,
      );
      noise = modelOutput;
      break;
    case "sample":
      denoised = modelOutput;
      noise = sample.map((x, i) => f32(x - f32(sqrtAlpha * (modelOutput[i] as number))) / sqrtBeta);
      break;
    case "v_prediction":
      denoised = sample.map(
        (x, i) => f32(sqrtAlpha * x) - f32(sqrtBeta * (modelOutput[i] as number)),
      );
      noise = sample.map((x, i) => f32(sqrtAlpha * (modelOutput[i] as number)) + f32(sqrtBeta * x));
      break;
  }
  if (clip !== null) denoised = denoised.map((x) => Math.min(Math.max(x, -clip), clip));
  return { denoised, noise };
}

export class DDIMScheduler implements Scheduler {
  private readonly schedule: NoiseSchedule;
  private readonly clip: number | null;
  /** ᾱ before the first training step: 1, or ᾱ_0 with `set_alpha_to_one: false`. */
  private readonly finalAlphaCumprod: number;
  private numInferenceSteps: number | null = null;
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];

  constructor(config: SchedulerConfig) {
    const reader = new ConfigReader(config, "DDIMScheduler");
    this.schedule = readNoiseSchedule(reader, {
      betaStart: 0.0001,
      betaEnd: 0.02,
      betaSchedule: "linear",
      timestepSpacing: "leading",
    });
    reader.unsupported("thresholding", false);
    const range = reader.number("clip_sample_range", 1);
    this.clip = reader.boolean("clip_sample", true) ? f32(range) : null;
    const first = this.schedule.alphasCumprod[0] as number;
    this.finalAlphaCumprod = reader.boolean("set_alpha_to_one", true) ? 1 : first;
  }

  setTimesteps(numInferenceSteps: number): void {
    const n = numInferenceSteps;
    const train = this.schedule.numTrainTimesteps;
    if (n > train) throw new RangeError(`DDIM: ${n} steps exceed the ${train} training steps`);
    switch (this.schedule.timestepSpacing) {
      case "linspace":
        this.timesteps = linspace(0, train - 1, n)
          .map(roundHalfEven)
          .reverse();
        break;
      case "leading": {
        const ratio = Math.floor(train / n);
        const offset = this.schedule.stepsOffset;
        this.timesteps = Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + offset);
        break;
      }
      case "trailing":
        this.timesteps = arangeDown(train, train / n).map((t) => roundHalfEven(t) - 1);
        break;
    }
    this.numInferenceSteps = n;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    if (this.numInferenceSteps === null) throw new Error("DDIM: call setTimesteps first");
    checkSameLength(modelOutput, sample);
    // diffusers steps back by train/n whatever the spacing, as here.
    const prev = timestep - Math.floor(this.schedule.numTrainTimesteps / this.numInferenceSteps);
    const alphaProd = alphaCumprodAt(this.schedule, timestep);
    const alphaPrev = prev >= 0 ? alphaCumprodAt(this.schedule, prev) : this.finalAlphaCumprod;
    const { denoised, noise } = denoisedAndNoise(
      this.schedule.predictionType,
      modelOutput,
      sample,
      alphaProd,
      this.clip,
    );
    const sqrtPrev = f32(Math.sqrt(alphaPrev));
    const direction = f32(Math.sqrt(f32(1 - alphaPrev)));
    return denoised.map((x0, i) => f32(sqrtPrev * x0) + f32(direction * (noise[i] as number)));
  }
}
