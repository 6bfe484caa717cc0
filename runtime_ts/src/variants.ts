/**
 * Which build of a model an adapter runs. A site can publish a float16 model with a float32
 * fallback (the plugin's `fallback_float32`), listed in the manifest's `extra.variants`. The
 * model's own build runs wherever the adapter has its features; a variant only where it lacks
 * one, so that a reader with `shader-f16` never downloads the larger float32 weights.
 */

import type { Manifest, Variant } from "./manifest";

export interface Fallback {
  variant: Variant;
  /** For the reader, e.g. "float32 fallback: this GPU lacks shader-f16". */
  reason: string;
}

/**
 * The variant to run instead of the manifest's own build, or undefined to run the own build:
 * the adapter has every feature it needs, or no variant fits either (then checking the own
 * build gives the reason to show).
 */
export function pickFallback(
  manifest: Manifest,
  features: ReadonlySet<string>,
): Fallback | undefined {
  const lacking = (needed: readonly string[]) => needed.filter((f) => !features.has(f));
  const missing = lacking(manifest.webgpu.features);
  if (missing.length === 0) return undefined;
  const variant = manifest.extra.variants?.find((v) => lacking(v.features).length === 0);
  if (variant === undefined) return undefined;
  return { variant, reason: `${variant.dtype} fallback: this GPU lacks ${missing.join(", ")}` };
}
