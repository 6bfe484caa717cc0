/**
 * `<websd-playground model="…/" config='{"prompt": …}'>`: the element the MkDocs plugin puts on
 * pages (site/templates/playground.html). A form of native controls (so keyboards and screen
 * readers work as usual), a progress bar with per-step timing, and the image on a canvas.
 *
 * On connect it only reads the manifest and checks the GPU, so that a browser that cannot run
 * the model says so at once; the model itself loads on the first Generate. Errors show in the
 * element, with a Retry where retrying can help.
 */

import {
  checkSupport,
  clearCachedWeights,
  createPipeline,
  DEFAULTS,
  type GenerateOptions,
  isCached,
  loadModelInfo,
  type ModelInfo,
  type Progress,
  randomSeed,
  type StableDiffusion,
} from "./client";
import { type ErrorCode, isAbort, WebsdError } from "./errors";
import type { GeneratedImage, RgbaImage } from "./pipeline";
import { MAX_STEPS } from "./pipeline";
import { sizeName } from "./manifest";
import { encodePng } from "./png";
import { isSchedulerId, SCHEDULER_IDS, type SchedulerId } from "./schedulers";

const SCHEDULER_LABELS: Record<SchedulerId, string> = {
  "dpm++2m": "DPM++ 2M",
  euler: "Euler",
  "euler-a": "Euler Ancestral",
  ddim: "DDIM",
  lcm: "LCM",
};

/** Failures a retry cannot fix: the browser, the GPU or the model description. */
const FINAL: ReadonlySet<ErrorCode> = new Set([
  "insecure-context",
  "no-webgpu",
  "no-adapter",
  "no-shader-f16",
  "limits",
  "manifest",
]);

/** The embed's settings, as site/embeds.py writes them into the `config` attribute. */
interface EmbedConfig {
  prompt?: string;
  negative_prompt?: string;
  seed?: number;
  steps?: number;
  guidance?: number;
  scheduler?: string;
  /** A size the model is compiled for, "512x768"; the plugin checks it. */
  size?: string;
}

const TEMPLATE = `
<form class="websd" novalidate>
  <div class="websd-controls">
    <label class="websd-field websd-wide">Prompt
      <textarea name="prompt" rows="3" required></textarea>
    </label>
    <label class="websd-field websd-wide">Negative prompt
      <input name="negativePrompt" type="text" autocomplete="off">
    </label>
    <div class="websd-row">
      <div class="websd-seed">
        <label class="websd-field">Seed
          <input name="seed" type="number" min="0" step="1" inputmode="numeric">
        </label>
        <button type="button" class="websd-icon" name="random" title="Random seed" aria-label="Random seed">⚄</button>
      </div>
      <label class="websd-field">Steps
        <input name="steps" type="number" min="1" max="${MAX_STEPS}" step="1" inputmode="numeric">
      </label>
      <label class="websd-field">Guidance
        <input name="guidance" type="number" min="0" max="50" step="0.5" inputmode="decimal">
      </label>
      <label class="websd-field">Scheduler
        <select name="scheduler">${SCHEDULER_IDS.map(
          (id) => `<option value="${id}">${SCHEDULER_LABELS[id]}</option>`,
        ).join("")}</select>
      </label>
      <label class="websd-field" hidden>Size
        <select name="size"></select>
      </label>
    </div>
    <div class="websd-actions">
      <button type="submit" class="websd-primary" name="generate" disabled>Generate</button>
      <button type="button" name="cancel" disabled>Cancel</button>
    </div>
    <progress class="websd-progress" max="1" value="0" hidden></progress>
    <p class="websd-status" role="status" aria-live="polite"></p>
    <div class="websd-alert" role="alert" hidden>
      <p class="websd-alert-text"></p>
      <button type="button" name="retry" hidden>Retry</button>
    </div>
  </div>
  <figure class="websd-output">
    <div class="websd-frame">
      <canvas role="img" aria-label="No image yet"></canvas>
      <span class="websd-placeholder">The image appears here</span>
    </div>
    <figcaption class="websd-caption"></figcaption>
    <div class="websd-actions">
      <button type="button" name="download" disabled>Download PNG</button>
      <button type="button" name="clear" class="websd-quiet">Clear cached weights</button>
    </div>
  </figure>
</form>`;

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
}

function milliseconds(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

export class WebsdPlayground extends HTMLElement {
  private form: HTMLFormElement | undefined;
  private info: ModelInfo | undefined;
  private sd: StableDiffusion | undefined;
  private running: AbortController | undefined;
  /** The last image, its settings, and the content hash of the build that made it. */
  private last: { image: GeneratedImage; options: GenerateOptions; model: string } | undefined;

  connectedCallback(): void {
    if (this.form !== undefined) return;
    this.innerHTML = TEMPLATE;
    this.form = this.querySelector("form") as HTMLFormElement;
    this.fill(this.embedConfig());
    this.wire();
    void this.preflight();
  }

  disconnectedCallback(): void {
    this.running?.abort();
    void this.sd?.dispose();
    this.sd = undefined;
  }

  private control<T extends HTMLElement = HTMLInputElement>(name: string): T {
    return this.form?.elements.namedItem(name) as T;
  }

  private find<T extends HTMLElement>(selector: string): T {
    return this.querySelector(selector) as T;
  }

  private embedConfig(): EmbedConfig {
    try {
      const config: unknown = JSON.parse(this.getAttribute("config") ?? "{}");
      return typeof config === "object" && config !== null ? (config as EmbedConfig) : {};
    } catch {
      return {};
    }
  }

  private fill(config: EmbedConfig): void {
    this.control<HTMLTextAreaElement>("prompt").value = config.prompt ?? "";
    this.control("negativePrompt").value = config.negative_prompt ?? "";
    this.control("seed").value = String(config.seed ?? randomSeed());
    this.control("steps").value = String(config.steps ?? DEFAULTS.steps);
    this.control("guidance").value = String(config.guidance ?? DEFAULTS.guidance);
    if (config.scheduler !== undefined && isSchedulerId(config.scheduler)) {
      this.control<HTMLSelectElement>("scheduler").value = config.scheduler;
    }
  }

  private wire(): void {
    const form = this.form as HTMLFormElement;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.generate();
    });
    this.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === "Escape" && this.running !== undefined) {
        this.running.abort();
      }
    });
    this.control("random").addEventListener("click", () => {
      this.control("seed").value = String(randomSeed());
    });
    this.control("cancel").addEventListener("click", () => this.running?.abort());
    this.control("retry").addEventListener("click", () => void this.generate());
    this.control("download").addEventListener("click", () => void this.download());
    this.control("clear").addEventListener("click", () => void this.clearCache());
  }

  private modelUrl(): string {
    return this.getAttribute("model") ?? "";
  }

  /** Reads the manifest and checks the GPU, without downloading the model. */
  private async preflight(): Promise<ModelInfo | undefined> {
    this.status("Checking WebGPU…");
    try {
      this.info ??= await loadModelInfo(this.modelUrl());
      const { info, adapter, fallback } = await checkSupport(this.info);
      const { manifest } = info;
      const sizes = manifest.sizes.map((s) => `${s.width}×${s.height}`);
      const size = sizes.length === 1 ? sizes[0] : `${sizes.length} sizes`;
      this.offerSizes(info);
      const download = (await isCached(info).catch(() => false))
        ? "weights cached"
        : `${megabytes(manifest.library.bytes + manifest.weights.bytes)} to download`;
      this.status(
        `Ready: ${manifest.name}, ${size}, ${download}. GPU: ${adapter}.` +
          (fallback === undefined ? "" : ` ${fallback}.`),
      );
      this.setIdle();
      if (this.embedConfig().scheduler === undefined) {
        this.control<HTMLSelectElement>("scheduler").value = manifest.default_scheduler;
      }
      return this.info;
    } catch (error) {
      this.fail(error);
      return undefined;
    }
  }

  /** The size picker lists the compiled sizes; shown only where there is a choice. */
  private offerSizes(info: ModelInfo): void {
    const select = this.control<HTMLSelectElement>("size");
    if (select.options.length > 0) return;
    for (const size of info.manifest.sizes) {
      select.add(new Option(`${size.width} × ${size.height}`, sizeName(size)));
    }
    const wanted = this.embedConfig().size;
    if (wanted !== undefined && info.manifest.sizes.some((s) => sizeName(s) === wanted)) {
      select.value = wanted;
    }
    (select.parentElement as HTMLElement).hidden = info.manifest.sizes.length < 2;
  }

  private readOptions(): GenerateOptions | undefined {
    const number = (name: string, integer: boolean, min: number, max: number) => {
      const input = this.control(name);
      const value = Number(input.value);
      const ok = input.value.trim() !== "" && value >= min && value <= max;
      if (!ok || (integer && !Number.isInteger(value))) {
        input.setCustomValidity(
          `Enter ${integer ? "a whole number" : "a number"} from ${min} to ${max}.`,
        );
        input.reportValidity();
        return undefined;
      }
      input.setCustomValidity("");
      return value;
    };
    const seed = number("seed", true, 0, Number.MAX_SAFE_INTEGER);
    const steps = number("steps", true, 1, MAX_STEPS);
    const guidance = number("guidance", false, 0, 50);
    if (seed === undefined || steps === undefined || guidance === undefined) return undefined;
    const size = this.control<HTMLSelectElement>("size").value;
    return {
      prompt: this.control<HTMLTextAreaElement>("prompt").value,
      negativePrompt: this.control("negativePrompt").value,
      seed,
      steps,
      guidance,
      scheduler: this.control<HTMLSelectElement>("scheduler").value as SchedulerId,
      ...(size === "" ? {} : { size }),
    };
  }

  private async generate(): Promise<void> {
    if (this.running !== undefined) return;
    // When the manifest could not be read, Generate (or Retry) tries again.
    const info = this.info ?? (await this.preflight());
    if (info === undefined) return;
    const options = this.readOptions();
    if (options === undefined) return;
    const controller = new AbortController();
    this.running = controller;
    this.setBusy();
    try {
      this.sd ??= await createPipeline({
        model: info.urls.manifest,
        onProgress: (progress) => this.progress(progress),
        signal: controller.signal,
      });
      this.status("Encoding the prompt…");
      const start = performance.now();
      const image = await this.sd.generate({ ...options, signal: controller.signal });
      const { manifest, fallback } = this.sd;
      this.last = { image, options, model: manifest.content_hash };
      this.show(image, options.prompt);
      this.control<HTMLButtonElement>("download").disabled = false;
      const { textMs, unetMsPerStep, vaeMs } = image.timings;
      this.find(".websd-caption").textContent =
        `Seed ${image.seed} · ${options.steps} steps · text ${milliseconds(textMs)} · ` +
        `UNet ${milliseconds(unetMsPerStep)} per step · VAE ${milliseconds(vaeMs)}` +
        (fallback === undefined ? "" : ` · ${manifest.dtype} fallback`);
      this.status(
        `Done in ${milliseconds(performance.now() - start)}.` +
          (image.promptTruncated
            ? ` The prompt was longer than the model's ${info.manifest.text.max_length} ` +
              "tokens: its end was left out."
            : ""),
      );
      this.setIdle();
    } catch (error) {
      if (isAbort(error)) {
        this.status("Cancelled.");
        this.setIdle();
      } else {
        // The next attempt starts from a fresh pipeline (a lost device needs one).
        void this.sd?.dispose();
        this.sd = undefined;
        this.fail(error);
      }
    } finally {
      this.running = undefined;
      const cancel = this.control<HTMLButtonElement>("cancel");
      if (document.activeElement === cancel) {
        const retry = this.control<HTMLButtonElement>("retry");
        (retry.hidden ? this.control("generate") : retry).focus();
      }
      cancel.disabled = true;
      this.find<HTMLProgressElement>(".websd-progress").hidden = true;
    }
  }

  private progress(progress: Progress): void {
    const bar = this.find<HTMLProgressElement>(".websd-progress");
    bar.hidden = false;
    switch (progress.kind) {
      case "download":
        bar.value = progress.total > 0 ? progress.loaded / progress.total : 0;
        this.status(
          `Downloading the model: ${megabytes(progress.loaded)} of ${megabytes(progress.total)}`,
        );
        break;
      case "compile":
        bar.value = progress.fraction;
        this.status(`Preparing the GPU kernels: ${Math.floor(progress.fraction * 100)}%`);
        break;
      case "step":
        bar.value = progress.step / progress.steps;
        this.status(
          `Step ${progress.step} of ${progress.steps} · ${milliseconds(progress.ms)} per step` +
            (progress.step === progress.steps ? " · decoding the image…" : ""),
        );
        break;
      case "preview":
        this.show(progress.image, "preview");
        break;
    }
  }

  private show(image: RgbaImage, prompt: string): void {
    const canvas = this.find<HTMLCanvasElement>("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    canvas.getContext("2d")?.putImageData(new ImageData(image.data, image.width), 0, 0);
    canvas.setAttribute("aria-label", `Generated image: ${prompt}`);
    const frame = this.find<HTMLElement>(".websd-frame");
    frame.classList.add("websd-has-image");
    frame.style.setProperty("--websd-aspect", `${image.width} / ${image.height}`);
    // Small images are scaled up by whole pixels, not blurred.
    frame.classList.toggle("websd-pixelated", image.width < 256);
  }

  private async download(): Promise<void> {
    if (this.last === undefined) return;
    const { image, options, model } = this.last;
    const parameters = {
      prompt: options.prompt,
      negative_prompt: options.negativePrompt ?? "",
      seed: image.seed,
      steps: options.steps,
      guidance: options.guidance,
      scheduler: options.scheduler,
      size: `${image.width}x${image.height}`,
      model,
    };
    const text = Object.entries(parameters)
      .map(([key, value]) => `${key}: ${value}`)
      .join(", ");
    const png = await encodePng(image.data, image.width, image.height, { parameters: text });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(png);
    link.download = `websd-${image.seed}.png`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 0);
  }

  private async clearCache(): Promise<void> {
    try {
      const removed = await clearCachedWeights(this.info ?? this.modelUrl());
      this.status(
        removed > 0
          ? `Removed ${removed} cached file${removed === 1 ? "" : "s"} of this model.`
          : "No cached files of this model.",
      );
    } catch (error) {
      this.fail(error);
    }
  }

  private status(text: string): void {
    this.find(".websd-status").textContent = text;
  }

  private setBusy(): void {
    this.find(".websd-alert").hidden = true;
    delete this.dataset.error;
    const generate = this.control<HTMLButtonElement>("generate");
    const cancel = this.control<HTMLButtonElement>("cancel");
    cancel.disabled = false;
    // A disabled button drops the focus: hand it to Cancel, the action that remains.
    if (document.activeElement === generate || !this.contains(document.activeElement)) {
      cancel.focus();
    }
    generate.disabled = true;
    this.find<HTMLProgressElement>(".websd-progress").value = 0;
    this.find(".websd").classList.add("websd-busy");
  }

  private setIdle(): void {
    this.control<HTMLButtonElement>("generate").disabled = false;
    this.find(".websd").classList.remove("websd-busy");
  }

  private fail(error: unknown): void {
    const code = error instanceof WebsdError ? error.code : undefined;
    const message =
      error instanceof WebsdError
        ? error.message
        : `Something went wrong: ${error instanceof Error ? error.message : String(error)}`;
    this.find(".websd-alert-text").textContent = message;
    this.find(".websd-alert").hidden = false;
    this.status("");
    this.find(".websd").classList.remove("websd-busy");
    const final = code !== undefined && FINAL.has(code);
    this.control<HTMLButtonElement>("retry").hidden = final;
    this.control<HTMLButtonElement>("generate").disabled = final;
    this.dataset.error = code ?? "internal";
  }
}

export function definePlayground(): void {
  if (typeof customElements !== "undefined" && !customElements.get("websd-playground")) {
    customElements.define("websd-playground", WebsdPlayground);
  }
}
