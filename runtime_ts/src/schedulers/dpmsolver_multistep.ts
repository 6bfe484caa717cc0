/**
 * diffusers' `DPMSolverMultistepScheduler` as DPM-Solver++(2M) (Lu et al. 2022): a second-order
 * multistep solver in log-SNR λ on the data prediction x̂₀, using the previous step's x̂₀ as the
 * second point ("midpoint" solver type). The first step, and the last one where diffusers asks for
 * it (`lower_order_final`, `euler_at_final`, a final σ of zero), are first order.
 */

import { f32 } from "../f32";
import { ConfigReader, type SchedulerConfig } from "./config";
import { arangeDown, interp, linspace, roundHalfEven } from "./numpy";
import {
  checkSameLength,
  type NoiseSchedule,
  readNoiseSchedule,
  type Scheduler,
  sigmaOfAlphaCumprod,
} from "./schedule";

/** α_t = 1/√(σ² + 1), σ_t = σ·α_t, and λ = log α_t - log σ_t, in float32. */
function alphaSigmaLambda(sigma: number): { alpha: number; sigma: number; lambda: number } {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  const sigmaT = f32(sigma * alpha);
  const lambda = f32(f32(Math.log(alpha)) - f32(Math.log(sigmaT)));
  return { alpha, sigma: sigmaT, lambda };
}

export class DPMSolverMultistepScheduler implements Scheduler {
  private readonly schedule: NoiseSchedule;
  private readonly lowerOrderFinal: boolean;
  private readonly eulerAtFinal: boolean;
  private readonly finalSigmasType: "zero" | "sigma_min";
  private sigmas = new Float32Array(0);
  /** x̂₀ of the previous step, once there is one. */
  private previousDenoised: Float32Array | null = null;
  private stepIndex: number | null = null;
  readonly initNoiseSigma = 1;
  timesteps: number[] = [];

  /** The config's algorithm settings are overridden: this class is DPM-Solver++(2M). */
  constructor(config: SchedulerConfig) {
    const reader = new ConfigReader(
      { ...config, algorithm_type: "dpmsolver++", solver_order: 2 },
      "DPMSolverMultistepScheduler",
    );
    this.schedule = readNoiseSchedule(reader, {
      betaStart: 0.0001,
      betaEnd: 0.02,
      betaSchedule: "linear",
      timestepSpacing: "linspace",
    });
    this.lowerOrderFinal = reader.boolean("lower_order_final", true);
    this.eulerAtFinal = reader.boolean("euler_at_final", false);
    this.finalSigmasType = reader.choice("final_sigmas_type", "zero", ["zero", "sigma_min"]);
    reader.unsupported("solver_type", "midpoint");
    reader.unsupported("thresholding", false);
    reader.unsupported("variance_type", undefined);
    reader.unsupported("lambda_min_clipped", undefined);
    reader.unsupported("use_karras_sigmas", false);
    reader.unsupported("use_exponential_sigmas", false);
    reader.unsupported("use_beta_sigmas", false);
    reader.unsupported("use_lu_lambdas", false);
    reader.unsupported("use_flow_sigmas", false);
    reader.unsupported("use_dynamic_shifting", false);
  }

  /** Integer timesteps from n + 1 evenly spaced points, dropping the last (except "trailing"). */
  setTimesteps(numInferenceSteps: number): void {
    const n = numInferenceSteps;
    const train = this.schedule.numTrainTimesteps;
    let timesteps: number[];
    switch (this.schedule.timestepSpacing) {
      case "linspace":
        timesteps = linspace(0, train - 1, n + 1)
          .map(roundHalfEven)
          .reverse()
          .slice(0, n);
        break;
      case "leading": {
        const ratio = Math.floor(train / (n + 1));
        const offset = this.schedule.stepsOffset;
        timesteps = Array.from({ length: n }, (_, i) => (n - i) * ratio + offset);
        break;
      }
      case "trailing":
        timesteps = arangeDown(train, train / n).map((t) => roundHalfEven(t) - 1);
        break;
    }
    const ac = this.schedule.alphasCumprod;
    const trainSigmas = ac.map(sigmaOfAlphaCumprod);
    const sigmas = new Float32Array(timesteps.length + 1);
    timesteps.forEach((t, i) => {
      sigmas[i] = interp(t, trainSigmas);
    });
    const last = this.finalSigmasType === "zero" ? 0 : sigmaOfAlphaCumprod(ac[0] as number);
    sigmas[timesteps.length] = last;
    this.timesteps = timesteps;
    this.sigmas = sigmas;
    this.previousDenoised = null;
    this.stepIndex = null;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** diffusers' index lookup: the second of repeated timesteps, the last step if absent. */
  private indexFor(timestep: number): number {
    if (this.stepIndex === null) {
      const first = this.timesteps.indexOf(timestep);
      const second = first < 0 ? -1 : this.timesteps.indexOf(timestep, first + 1);
      this.stepIndex = second >= 0 ? second : first >= 0 ? first : this.timesteps.length - 1;
    }
    return this.stepIndex;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    checkSameLength(modelOutput, sample);
    const index = this.indexFor(timestep);
    const count = this.timesteps.length;
    const short = this.lowerOrderFinal && count < 15;
    const firstOrder =
      this.previousDenoised === null ||
      (index === count - 1 && (this.eulerAtFinal || short || this.finalSigmasType === "zero"));

    const s0 = alphaSigmaLambda(this.sigmas[index] as number);
    const t = alphaSigmaLambda(this.sigmas[index + 1] as number);
    const denoised = this.denoised(modelOutput, sample, s0.alpha, s0.sigma);
    const h = f32(t.lambda - s0.lambda);
    const ratio = f32(t.sigma / s0.sigma);
    const b = f32(t.alpha * f32(f32(Math.exp(-h)) - 1));

    let next: Float32Array;
    if (firstOrder) {
      next = sample.map((x, i) => f32(ratio * x) - f32(b * (denoised[i] as number)));
    } else {
      const previous = this.previousDenoised as Float32Array;
      const s1 = alphaSigmaLambda(this.sigmas[index - 1] as number);
      const r0 = f32(f32(s0.lambda - s1.lambda) / h);
      const invR0 = f32(1 / r0);
      const halfB = f32(0.5 * b);
      next = sample.map((x, i) => {
        const d0 = denoised[i] as number;
        const d1 = f32(invR0 * f32(d0 - (previous[i] as number)));
        return f32(f32(ratio * x) - f32(b * d0)) - f32(halfB * d1);
      });
    }
    this.previousDenoised = denoised;
    this.stepIndex = index + 1;
    return next;
  }

  /** `convert_model_output` for DPM-Solver++: the data prediction x̂₀. */
  private denoised(
    modelOutput: Float32Array,
    sample: Float32Array,
    alpha: number,
    sigma: number,
  ): Float32Array {
    switch (this.schedule.predictionType) {
      case "epsilon":
        return sample.map((x, i) => f32(x - f32(sigma * (modelOutput[i] as number))) / alpha);
      case "v_prediction":
        return sample.map((x, i) => f32(alpha * x) - f32(sigma * (modelOutput[i] as number)));
      case "sample":
        return modelOutput.slice();
    }
  }
}
