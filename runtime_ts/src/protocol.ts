/**
 * The messages between the page (client.ts) and the pipeline's dedicated worker (worker.ts).
 *
 * The worker loads one model, then runs generations one at a time in the order they arrive;
 * `cancel` takes effect between steps. Load messages carry no id; generation messages carry
 * the id of their request. Images travel as transferred buffers.
 */

import type { SerializedError } from "./errors";
import type { Manifest } from "./manifest";
import type { GeneratedImage, GenerateRequest, StepEvent } from "./pipeline";
import type { DownloadProgress } from "./store";

/** What loading reports: bytes of the library and weights, then GPU kernels compiled. */
export type LoadEvent =
  ({ kind: "download" } & DownloadProgress) | { kind: "compile"; fraction: number };

export type ToWorker =
  | { type: "load"; manifestUrl: string; manifest: Manifest }
  | { type: "generate"; id: number; request: GenerateRequest }
  | { type: "cancel"; id: number };

export type FromWorker =
  | { type: "load-progress"; event: LoadEvent }
  /** The model is ready; `adapter` describes the GPU it runs on. */
  | { type: "ready"; adapter: string }
  | { type: "load-failed"; error: SerializedError }
  | { type: "step"; id: number; event: StepEvent }
  | { type: "done"; id: number; image: GeneratedImage }
  | { type: "failed"; id: number; error: SerializedError }
  /** The GPU device is gone: every later request fails, a new pipeline may work. */
  | { type: "lost"; error: SerializedError };
