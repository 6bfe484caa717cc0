/**
 * The failures a user can meet, each with a code the playground turns into advice. They cross
 * the worker boundary as `{ code, message }`, so every message is written for the reader of the
 * page, not for the console.
 */

export type ErrorCode =
  /** The page is not https or localhost: browsers hide WebGPU there. */
  | "insecure-context"
  /** The browser has no WebGPU at all. */
  | "no-webgpu"
  /** WebGPU exists but offers no adapter (disabled, blocklisted, or no GPU). */
  | "no-adapter"
  /** An fp16 model on an adapter without `shader-f16`. */
  | "no-shader-f16"
  /** The adapter's limits are below what the model needs. */
  | "limits"
  /** The GPU was lost (driver reset, sleep, too much memory); retrying may work. */
  | "device-lost"
  /** A WebGPU validation or out-of-memory error while running the model. */
  | "gpu"
  /** A file could not be fetched. */
  | "download"
  /** A file's bytes do not match the manifest's sha256, even after downloading it again. */
  | "integrity"
  /** The browser refused to store the weights: quota exceeded, or no Cache Storage. */
  | "storage"
  /** websd-model.json is missing, malformed or from another websd version. */
  | "manifest"
  /** The caller cancelled. */
  | "aborted"
  /** The pipeline was disposed or its worker died. */
  | "closed";

export class WebsdError extends Error {
  override name = "WebsdError";

  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** What crosses postMessage: Error subclasses lose their fields in structured cloning. */
export interface SerializedError {
  code: ErrorCode | "internal";
  message: string;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof WebsdError) return { code: error.code, message: error.message };
  if (error instanceof DOMException && error.name === "AbortError") {
    return { code: "aborted", message: "cancelled" };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: "internal", message };
}

/** Back to an Error on the receiving side; codes outside ErrorCode stay plain Errors. */
export function deserializeError(error: SerializedError): Error {
  return error.code === "internal"
    ? new Error(error.message)
    : new WebsdError(error.code, error.message);
}

export function isAbort(error: unknown): boolean {
  return (
    (error instanceof WebsdError && error.code === "aborted") ||
    (error instanceof DOMException && error.name === "AbortError")
  );
}

export function abortError(): WebsdError {
  return new WebsdError("aborted", "cancelled");
}

/** Throws the cancellation error if `signal` has fired: called between steps. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}
