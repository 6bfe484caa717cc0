/**
 * The training noise schedule every discrete scheduler starts from (betas → ᾱ), and the
 * scheduler interface.
 *
 * diffusers builds it with float32 torch ops (`torch.linspace(..., dtype=float32)`, `cumprod`);
 * they are reproduced here so that ᾱ, and the sigmas derived from it, match bit for bit.
 */

import type { TorchGenerator } from "../rng";
import { f32, fmaf } from "../f32";
import type { ConfigReader } from "./config";

export type PredictionType = "epsilon" | "v_prediction" | "sample";
export type TimestepSpacing = "linspace" | "leading" | "trailing";
type BetaSchedule = "linear" | "scaled_linear" | "squaredcos_cap_v2";

/** A sampler: the same contract as a diffusers scheduler, on flat float32 latents. */
export interface Scheduler {
  /** The timesteps to call the denoiser with, in order; set by `setTimesteps`. */
  readonly timesteps: readonly number[];
  /** What the initial standard-normal latents are multiplied by. */
  readonly initNoiseSigma: number;
  setTimesteps(numInferenceSteps: number): void;
  /** The denoiser's input for `sample` at `timestep` (some schedulers rescale it). */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array;
  /** The sample at the next timestep; stochastic schedulers draw their noise from `generator`. */
  step(
    modelOutput: Float32Array,
    timestep: number,
    sample: Float32Array,
    generator?: TorchGenerator,
  ): Float32Array;
}

/** The config keys all discrete schedulers share, with each class's own defaults. */
export interface NoiseSchedule {
  readonly numTrainTimesteps: number;
  /** ᾱ_t for t = 0 … numTrainTimesteps-1, float32 as diffusers holds it. */
  readonly alphasCumprod: Float32Array;
  readonly predictionType: PredictionType;
  readonly timestepSpacing: TimestepSpacing;
  readonly stepsOffset: number;
}

export interface ScheduleDefaults {
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  timestepSpacing: TimestepSpacing;
}

export function readNoiseSchedule(config: ConfigReader, defaults: ScheduleDefaults): NoiseSchedule {
  config.unsupported("rescale_betas_zero_snr", false);
  const numTrainTimesteps = config.integer("num_train_timesteps", 1000);
  const trained = config.numbers("trained_betas");
  let betas: Float32Array;
  if (trained !== undefined) {
    betas = Float32Array.from(trained);
  } else {
    const start = config.number("beta_start", defaults.betaStart);
    const end = config.number("beta_end", defaults.betaEnd);
    const kind = config.choice("beta_schedule", defaults.betaSchedule, [
      "linear",
      "scaled_linear",
      "squaredcos_cap_v2",
    ]);
    betas = makeBetas(kind, start, end, numTrainTimesteps);
  }
  return {
    numTrainTimesteps,
    alphasCumprod: cumprodOfAlphas(betas),
    predictionType: config.choice("prediction_type", "epsilon", [
      "epsilon",
      "v_prediction",
      "sample",
    ]),
    timestepSpacing: config.choice("timestep_spacing", defaults.timestepSpacing, [
      "linspace",
      "leading",
      "trailing",
    ]),
    stepsOffset: config.integer("steps_offset", 0),
  };
}

function makeBetas(kind: BetaSchedule, start: number, end: number, n: number): Float32Array {
  switch (kind) {
    case "linear":
      return torchLinspace(start, end, n);
    case "scaled_linear":
      return torchLinspace(Math.sqrt(start), Math.sqrt(end), n).map((b) => b * b);
    case "squaredcos_cap_v2":
      return cosineBetas(n);
  }
}

/**
 * `torch.linspace(start, end, steps, dtype=float32)` on the CPU: float32 step, the first half
 * counted up from `start` and the second down from `end`, each as one fused multiply-add.
 */
function torchLinspace(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  const s = f32(start);
  const e = f32(end);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    out[i] = i < halfway ? fmaf(step, i, s) : fmaf(-step, steps - 1 - i, e);
  }
  return out;
}

/** diffusers' `betas_for_alpha_bar` with the cosine ᾱ of improved DDPM, in float64. */
function cosineBetas(n: number): Float32Array {
  const alphaBar = (t: number) => {
    const c = Math.cos((((t + 0.008) / 1.008) * Math.PI) / 2);
    return c * c;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999);
  }
  return out;
}

/** `torch.cumprod(1 - betas)` in float32: the CPU kernel accumulates in float64. */
function cumprodOfAlphas(betas: Float32Array): Float32Array {
  const out = new Float32Array(betas.length);
  let acc = 1;
  betas.forEach((beta, i) => {
    acc *= f32(1 - beta);
    out[i] = acc;
  });
  return out;
}

/** ᾱ at an integer training timestep. */
export function alphaCumprodAt(schedule: NoiseSchedule, timestep: number): number {
  const value = schedule.alphasCumprod[timestep];
  if (value === undefined || !Number.isInteger(timestep)) {
    throw new RangeError(`timestep ${timestep} is not a training timestep`);
  }
  return value;
}

/** σ_t = √((1 - ᾱ_t) / ᾱ_t), the Karras-style noise levels, float32 like diffusers'. */
export function sigmaOfAlphaCumprod(alphaCumprod: number): number {
  return f32(Math.sqrt(f32(f32(1 - alphaCumprod) / alphaCumprod)));
}

/**
 * diffusers' `index_for_timestep`: where `timestep` sits in the schedule. When it appears
 * twice, the second one, so that a schedule entered midway (img2img) skips no sigma.
 */
export function indexForTimestep(timesteps: readonly number[], timestep: number): number {
  const first = timesteps.indexOf(timestep);
  if (first < 0) throw new Error(`timestep ${timestep} is not in the schedule`);
  const second = timesteps.indexOf(timestep, first + 1);
  return second < 0 ? first : second;
}

/** The number of elements a scheduler steps, checked against the sample's. */
export function checkSameLength(modelOutput: Float32Array, sample: Float32Array): void {
  if (modelOutput.length !== sample.length) {
    throw new RangeError(
      `model output has ${modelOutput.length} elements, the sample ${sample.length}`,
    );
  }
}
