/**
 * The page's side of the pipeline: `createPipeline` reads and checks the manifest, checks the
 * GPU in the page (so that an unsupported browser hears so at once), then hands the model to a
 * dedicated worker and forwards its progress.
 *
 * Pipelines of one model on one page share their worker: two playgrounds of a model hold its
 * weights on the GPU once, and compile its kernels once. The worker goes when the last of its
 * pipelines is disposed, or when it fails (device lost, load error): the next `createPipeline`
 * starts a fresh one.
 */

import { abortError, deserializeError, WebsdError } from "./errors";
import { checkAdapter, describeAdapter, findAdapter } from "./gpu";
import {
  type ArtifactUrls,
  artifactUrls,
  checkedFiles,
  findSize,
  type Manifest,
  ManifestError,
  manifestUrl,
  parseManifest,
  sizeName,
} from "./manifest";
import {
  checkRequest,
  type GeneratedImage,
  type GenerateRequest,
  type StepEvent,
} from "./pipeline";
import type { FromWorker, LoadEvent, ToWorker } from "./protocol";
import type { SchedulerId } from "./schedulers";
import { clearCachedFiles, ModelStore } from "./store";
import { pickFallback } from "./variants";

export type Progress = LoadEvent | StepEvent;

export interface PipelineOptions {
  /** The artifact folder (or its websd-model.json), absolute or relative to the page. */
  model: string;
  /** Download bytes and kernel compilation while loading, then steps and previews. */
  onProgress?: (progress: Progress) => void;
  /** Gives up loading. */
  signal?: AbortSignal;
}

export interface GenerateOptions {
  prompt: string;
  negativePrompt?: string;
  /** Default: a random seed, returned with the image. */
  seed?: number;
  /** Default 20. */
  steps?: number;
  /** Default 7.5; 1 or less turns classifier-free guidance off. */
  guidance?: number;
  /** Default: the manifest's `default_scheduler`. */
  scheduler?: SchedulerId;
  /** One of `manifest.sizes`, as "512x768"; default: the first. */
  size?: string;
  /** Send a preview image every this many steps (a VAE decode each); default 0, none. */
  previewEvery?: number;
  /** Cancels between steps; the promise rejects with a WebsdError of code "aborted". */
  signal?: AbortSignal;
}

export interface StableDiffusion {
  /** The build that runs: the model's own, or its fallback (see `fallback`). */
  readonly manifest: Manifest;
  /** The GPU the model runs on, as the browser names it. */
  readonly adapter: string;
  /** Why a fallback build runs, e.g. "float32 fallback: this GPU lacks shader-f16". */
  readonly fallback: string | undefined;
  generate(options: GenerateOptions): Promise<GeneratedImage>;
  dispose(): Promise<void>;
}

/** A model's parsed manifest and the absolute URLs of its files. */
export interface ModelInfo {
  manifest: Manifest;
  urls: ArtifactUrls;
}

export const DEFAULTS = { steps: 20, guidance: 7.5 } as const;

export async function loadModelInfo(model: string): Promise<ModelInfo> {
  const url = manifestUrl(model, globalThis.document?.baseURI ?? location.href);
  let response: Response;
  try {
    response = await fetch(url, { cache: "no-cache" });
  } catch (error) {
    throw new WebsdError(
      "download",
      `Could not load the model description ${url}: ${(error as Error).message}`,
    );
  }
  if (!response.ok) {
    throw new WebsdError(
      "download",
      `Could not load the model description ${url}: the server answered ${response.status} ` +
        `${response.statusText}.`,
    );
  }
  try {
    const manifest = parseManifest(await response.json());
    return { manifest, urls: artifactUrls(manifest, url) };
  } catch (error) {
    const reason = error instanceof ManifestError ? error.message : `not JSON (${error})`;
    throw new WebsdError("manifest", `The model description ${url} is unusable: ${reason}`);
  }
}

/** The build of a model this browser runs, and on which GPU. */
export interface Support {
  /** The model's own build, or the fallback it lists for an adapter that lacks a feature. */
  info: ModelInfo;
  /** The GPU, as the browser names it. */
  adapter: string;
  /** Why the fallback runs, for the reader; undefined when the model's own build does. */
  fallback: string | undefined;
}

/**
 * Throws the reason this browser cannot run the model; else picks the build it runs (fetching
 * the fallback's manifest, not the model's own files) and describes the GPU.
 */
export async function checkSupport(info: ModelInfo): Promise<Support> {
  const adapter = await findAdapter();
  const fallback = pickFallback(info.manifest, adapter.features);
  const chosen =
    fallback === undefined
      ? info
      : await loadModelInfo(new URL(fallback.variant.path, info.urls.manifest).href);
  checkAdapter(adapter, chosen.manifest.webgpu);
  return { info: chosen, adapter: describeAdapter(adapter), fallback: fallback?.reason };
}

/** Whether the library and every weight shard are in the browser's cache already. */
export async function isCached(info: ModelInfo): Promise<boolean> {
  if (typeof caches === "undefined") return false;
  const files = checkedFiles(info.manifest, info.urls);
  const store = new ModelStore(files, info.manifest.content_hash);
  return store.hasAllKeys(files.map((file) => file.url));
}

/**
 * Deletes the model's cached files, any version of them, its fallback's too (published inside
 * its folder); returns how many went.
 */
export async function clearCachedWeights(model: string | ModelInfo): Promise<number> {
  const { urls } = typeof model === "string" ? await loadModelInfo(model) : model;
  return clearCachedFiles([urls.folder, urls.weights]);
}

export function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] as number;
}

interface Call {
  resolve(image: GeneratedImage): void;
  reject(error: Error): void;
  onStep(event: StepEvent): void;
}

const workers = new Map<string, ModelWorker>();

/** One model in one worker, shared by reference count. */
class ModelWorker {
  readonly ready: Promise<string>;
  readonly loadListeners = new Set<(event: LoadEvent) => void>();
  private readonly worker: Worker;
  private readonly calls = new Map<number, Call>();
  private nextId = 1;
  private refs = 0;
  private failure: Error | undefined;
  private settleReady!: { resolve(adapter: string): void; reject(error: Error): void };

  static acquire(info: ModelInfo): ModelWorker {
    const key = `${info.urls.manifest}#${info.manifest.content_hash}`;
    let worker = workers.get(key);
    if (worker === undefined) {
      worker = new ModelWorker(key, info);
      workers.set(key, worker);
    }
    worker.refs++;
    return worker;
  }

  private constructor(
    private readonly key: string,
    info: ModelInfo,
  ) {
    this.ready = new Promise((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.ready.catch(() => {}); // a failure reaches callers through `fail`, not as unhandled
    this.worker = new Worker(new URL("./websd-worker.js", import.meta.url), {
      type: "module",
      name: "websd",
    });
    this.worker.onmessage = (event: MessageEvent<FromWorker>) => this.receive(event.data);
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.fail(new Error(`The websd worker failed: ${event.message || "it could not start"}`));
    };
    this.send({ type: "load", manifestUrl: info.urls.manifest, manifest: info.manifest });
  }

  generate(
    request: GenerateRequest,
    onStep: (event: StepEvent) => void,
    signal?: AbortSignal,
  ): Promise<GeneratedImage> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (signal?.aborted) return Promise.reject(abortError());
    const id = this.nextId++;
    return new Promise<GeneratedImage>((resolve, reject) => {
      const onAbort = () => {
        this.calls.delete(id);
        this.send({ type: "cancel", id });
        reject(abortError());
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => signal?.removeEventListener("abort", onAbort);
      this.calls.set(id, {
        resolve: (image) => (done(), resolve(image)),
        reject: (error) => (done(), reject(error)),
        onStep,
      });
      this.send({ type: "generate", id, request });
    });
  }

  release(): void {
    if (--this.refs === 0) this.fail(new WebsdError("closed", "this pipeline was disposed"));
  }

  private send(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  private receive(message: FromWorker): void {
    switch (message.type) {
      case "load-progress":
        for (const listener of this.loadListeners) listener(message.event);
        break;
      case "ready":
        this.settleReady.resolve(message.adapter);
        break;
      case "load-failed":
      case "lost":
        this.fail(deserializeError(message.error));
        break;
      case "step":
        this.calls.get(message.id)?.onStep(message.event);
        break;
      case "done":
        this.calls.get(message.id)?.resolve(message.image);
        this.calls.delete(message.id);
        break;
      case "failed":
        this.calls.get(message.id)?.reject(deserializeError(message.error));
        this.calls.delete(message.id);
        break;
    }
  }

  /** Ends the worker and fails every pending and later call with `error`. */
  private fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.settleReady.reject(error);
    for (const call of this.calls.values()) call.reject(error);
    this.calls.clear();
    this.close();
  }

  private close(): void {
    this.worker.terminate();
    if (workers.get(this.key) === this) workers.delete(this.key);
  }
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError());
    if (signal.aborted) onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Loads a model and resolves once it can generate: downloaded (or read from the cache) and
 * checked, its kernels compiled on the GPU.
 */
export async function createPipeline(options: PipelineOptions): Promise<StableDiffusion> {
  const model = await untilAborted(loadModelInfo(options.model), options.signal);
  const { info, fallback } = await untilAborted(checkSupport(model), options.signal);
  const worker = ModelWorker.acquire(info);
  const onProgress = options.onProgress ?? (() => {});
  worker.loadListeners.add(onProgress);
  let adapter: string;
  try {
    adapter = await untilAborted(worker.ready, options.signal);
  } catch (error) {
    worker.release();
    throw error;
  } finally {
    worker.loadListeners.delete(onProgress);
  }
  let disposed = false;
  return {
    manifest: info.manifest,
    adapter,
    fallback,
    generate(generate: GenerateOptions): Promise<GeneratedImage> {
      if (disposed) return Promise.reject(new WebsdError("closed", "this pipeline was disposed"));
      const request: GenerateRequest = {
        prompt: generate.prompt,
        negativePrompt: generate.negativePrompt ?? "",
        seed: generate.seed ?? randomSeed(),
        steps: generate.steps ?? DEFAULTS.steps,
        guidance: generate.guidance ?? DEFAULTS.guidance,
        scheduler: generate.scheduler ?? info.manifest.default_scheduler,
        size: generate.size ?? sizeName(findSize(info.manifest)),
        previewEvery: generate.previewEvery ?? 0,
      };
      try {
        checkRequest(request);
        findSize(info.manifest, request.size);
      } catch (error) {
        return Promise.reject(error);
      }
      return worker.generate(request, onProgress, generate.signal);
    },
    async dispose(): Promise<void> {
      if (disposed) return;
      disposed = true;
      worker.release();
    },
  };
}
