/**
 * The dedicated worker that owns the GPU device and the model (bundled as websd-worker.js), so
 * that downloads, kernel compilation and denoising never block the page.
 */

/// <reference lib="webworker" />

import { serializeError, WebsdError } from "./errors";
import { describeAdapter, findAdapter, requestDevice } from "./gpu";
import { loadPipeline } from "./load";
import { pickMatrixKernels, withMatrixFeature } from "./matrix_kernels";
import type { Manifest } from "./manifest";
import type { Pipeline } from "./pipeline";
import type { FromWorker, ToWorker } from "./protocol";

declare const self: DedicatedWorkerGlobalScope;

function post(message: FromWorker, transfer: Transferable[] = []): void {
  self.postMessage(message, transfer);
}

let pipeline: Promise<Pipeline> | undefined;
/** Generations run one after another: they share the device and the model's buffers. */
let queue: Promise<void> = Promise.resolve();
const running = new Map<number, AbortController>();

async function load(manifestUrl: string, manifest: Manifest): Promise<Pipeline> {
  const adapter = await findAdapter();
  const matrix = pickMatrixKernels(adapter, manifest.webgpu.matrix_kernels);
  const device = await requestDevice(adapter, withMatrixFeature(manifest.webgpu, matrix));
  void device.lost.then((info) => {
    const message =
      `The GPU was lost (${info.message || info.reason}). This can happen when the GPU is reset, ` +
      "the computer sleeps, or memory runs out. Retry to load the model again.";
    post({ type: "lost", error: serializeError(new WebsdError("device-lost", message)) });
  });
  const loaded = await loadPipeline(
    manifestUrl,
    manifest,
    device,
    (event) => post({ type: "load-progress", event }),
    matrix,
  );
  const tensorCores = loaded.subgroupMatrices ? ", with subgroup matrices" : "";
  post({ type: "ready", adapter: describeAdapter(adapter) + tensorCores });
  return loaded.pipeline;
}

async function generate(
  id: number,
  message: Extract<ToWorker, { type: "generate" }>,
): Promise<void> {
  const controller = running.get(id);
  try {
    if (pipeline === undefined) throw new Error("generate before load");
    const ready = await pipeline;
    const image = await ready.generate(
      message.request,
      (event) =>
        post(
          { type: "step", id, event },
          event.kind === "preview" ? [event.image.data.buffer] : [],
        ),
      controller?.signal,
    );
    post({ type: "done", id, image }, [image.data.buffer]);
  } catch (error) {
    post({ type: "failed", id, error: serializeError(error) });
  } finally {
    running.delete(id);
  }
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case "load":
      pipeline = load(message.manifestUrl, message.manifest);
      pipeline.catch((error: unknown) =>
        post({ type: "load-failed", error: serializeError(error) }),
      );
      break;
    case "generate":
      running.set(message.id, new AbortController());
      queue = queue.then(() => generate(message.id, message));
      break;
    case "cancel":
      running.get(message.id)?.abort();
      break;
  }
};
