/**
 * Text → scheduler loop → image: StableDiffusionPipeline's loop, step for step as the native
 * runner (compiler/native.py `generate`) does it, so that one seed gives the same image in the
 * browser, natively and in diffusers.
 */

import { throwIfAborted, WebsdError } from "./errors";
import { f32 } from "./f32";
import { findSize, type ImageSize, type Manifest } from "./manifest";
import type { DeviceTensor, HostArray, Model } from "./model";
import { TorchGenerator } from "./rng";
import { createScheduler, isSchedulerId, type SchedulerId } from "./schedulers";
import type { PromptTokenizer } from "./tokenizer";

export interface GenerateRequest {
  prompt: string;
  negativePrompt: string;
  /** A safe integer; PyTorch seeds its generator with the low 32 bits. */
  seed: number;
  steps: number;
  /** Classifier-free guidance scale; 1 or less runs the UNet on the prompt alone. */
  guidance: number;
  scheduler: SchedulerId;
  /** One of the manifest's sizes, as "512x768". */
  size: string;
  /** Decode a preview image every this many steps; 0 for none. */
  previewEvery: number;
}

/** RGBA8 pixels, row-major from the top left, as ImageData takes them. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray<ArrayBuffer>;
}

export interface GeneratedImage extends RgbaImage {
  seed: number;
  /** The prompt had more tokens than the text encoder takes; its end was dropped. */
  promptTruncated: boolean;
  timings: { textMs: number; unetMsPerStep: number; vaeMs: number };
}

export type StepEvent =
  | { kind: "step"; step: number; steps: number; ms: number }
  | { kind: "preview"; step: number; steps: number; image: RgbaImage };

export const MAX_STEPS = 1000;

export function checkRequest(request: GenerateRequest): void {
  const bad = (what: string) => {
    throw new RangeError(`generate: ${what}`);
  };
  if (!Number.isSafeInteger(request.seed)) bad(`seed ${request.seed} is not a safe integer`);
  if (!Number.isInteger(request.steps) || request.steps < 1 || request.steps > MAX_STEPS) {
    bad(`steps must be an integer from 1 to ${MAX_STEPS}, got ${request.steps}`);
  }
  if (!Number.isFinite(request.guidance)) bad(`guidance ${request.guidance} is not a number`);
  if (!isSchedulerId(request.scheduler)) bad(`unknown scheduler "${request.scheduler}"`);
  if (!Number.isInteger(request.previewEvery) || request.previewEvery < 0) {
    bad(`previewEvery must be a non-negative integer, got ${request.previewEvery}`);
  }
}

function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export class Pipeline {
  constructor(
    private readonly manifest: Manifest,
    private readonly model: Model,
    private readonly tokenizer: PromptTokenizer,
  ) {}

  async generate(
    request: GenerateRequest,
    onEvent: (event: StepEvent) => void,
    signal?: AbortSignal,
  ): Promise<GeneratedImage> {
    checkRequest(request);
    const size = findSize(this.manifest, request.size);
    const { functions } = size;
    throwIfAborted(signal);
    const textStart = performance.now();
    const cond = this.tokenizer.encode(request.prompt);
    const condEmbeds = await this.model.run("encode_text", [cond.ids]);
    const guided = request.guidance > 1;
    let text: DeviceTensor;
    if (guided) {
      const uncond = this.tokenizer.encode(request.negativePrompt);
      const uncondEmbeds = await this.model.run("encode_text", [uncond.ids]);
      const both = new Float32Array(uncondEmbeds.length + condEmbeds.length);
      both.set(uncondEmbeds);
      both.set(condEmbeds, uncondEmbeds.length);
      text = this.model.upload(functions.denoise, 2, both);
    } else {
      text = this.model.upload(functions.denoise_cond, 2, condEmbeds);
    }
    const textMs = performance.now() - textStart;

    try {
      const scheduler = createScheduler(request.scheduler, this.manifest.scheduler);
      scheduler.setTimesteps(request.steps);
      const channels = this.manifest.latent_channels;
      const { height, width } = size.latent;
      const generator = new TorchGenerator(request.seed);
      // torch: randn(...) * init_noise_sigma, a float32 product (storing it rounds it once).
      const sigma = f32(scheduler.initNoiseSigma);
      let latents: Float32Array = generator.randn(channels * height * width).map((x) => x * sigma);
      const guidance = new Float32Array([request.guidance]);
      const steps = scheduler.timesteps.length;
      const stepMs: number[] = [];
      for (const [i, t] of scheduler.timesteps.entries()) {
        throwIfAborted(signal);
        const stepStart = performance.now();
        const input = scheduler.scaleModelInput(latents, t);
        const timestep = new Float32Array([t]);
        const noise = await this.model.run(
          guided ? functions.denoise : functions.denoise_cond,
          guided ? [input, timestep, text, guidance] : [input, timestep, text],
        );
        latents = scheduler.step(noise as Float32Array, t, latents, generator);
        stepMs.push(performance.now() - stepStart);
        onEvent({ kind: "step", step: i + 1, steps, ms: stepMs[i] as number });
        if (request.previewEvery > 0 && (i + 1) % request.previewEvery === 0 && i + 1 < steps) {
          throwIfAborted(signal);
          onEvent({ kind: "preview", step: i + 1, steps, image: await this.decode(latents, size) });
        }
      }
      throwIfAborted(signal);
      const vaeStart = performance.now();
      const image = await this.decode(latents, size);
      return {
        ...image,
        seed: request.seed,
        promptTruncated: cond.truncated,
        timings: { textMs, unetMsPerStep: median(stepMs), vaeMs: performance.now() - vaeStart },
      };
    } finally {
      text.dispose();
    }
  }

  /** decode_image gives one 32-bit word per pixel holding R, G, B, A bytes in memory order. */
  private async decode(latents: Float32Array, size: ImageSize): Promise<RgbaImage> {
    const packed: HostArray = await this.model.run(size.functions.decode_image, [latents]);
    const { height, width } = size;
    if (packed.length !== height * width) {
      throw new WebsdError(
        "gpu",
        `decode_image gave ${packed.length} pixels, not ${width}×${height}`,
      );
    }
    return { width, height, data: new Uint8ClampedArray(packed.buffer as ArrayBuffer) };
  }
}
