/**
 * `websd-model.json`, the contract between the compiler (compiler/manifest.py) and this runtime:
 * everything model-specific the browser needs. Keys keep the JSON's snake_case, so the file and
 * these types read alike.
 */

import { isSchedulerId, type SchedulerConfig, type SchedulerId } from "./schedulers";

export const MANIFEST_NAME = "websd-model.json";
export const MANIFEST_FORMAT = "websd-model";
/** Bumped by the compiler on any incompatible change; must equal compiler/manifest.py's. */
export const MANIFEST_FORMAT_VERSION = 3;

export interface TensorSpec {
  name: string;
  dtype: string;
  shape: number[];
  /** How the bytes are laid out where dtype alone does not say, e.g. "rgba8-packed". */
  layout?: string;
}

/** A compiled Relax function: inputs in call order, and the weight group it takes. */
export interface FunctionSig {
  name: string;
  params: string;
  inputs: TensorSpec[];
  output: TensorSpec;
}

/** The image-sized functions, compiled once per size. */
export const SIZED_FUNCTIONS = ["denoise", "denoise_cond", "decode_image"] as const;
export type SizedFunction = (typeof SIZED_FUNCTIONS)[number];

/** An image size the library is compiled for, and the names of its functions. */
export interface ImageSize {
  width: number;
  height: number;
  latent: { height: number; width: number };
  /**
   * denoise(latents, timestep, text_embeds[uncond, cond], guidance_scale) → guided noise
   * prediction; denoise_cond(latents, timestep, text_embeds) → noise prediction without guidance;
   * decode_image(latents) → RGBA8 pixels packed in 32-bit words.
   */
  functions: Record<SizedFunction, string>;
}

/** "512x768": how options, embeds and the CLI name a size. */
export function sizeName(size: { width: number; height: number }): string {
  return `${size.width}x${size.height}`;
}

/** The manifest's entry for a size name; undefined: the default (first) size. */
export function findSize(manifest: Manifest, name?: string): ImageSize {
  const sizes = manifest.sizes;
  const found = name === undefined ? sizes[0] : sizes.find((s) => sizeName(s) === name);
  if (found === undefined) {
    throw new RangeError(
      `generate: this model is compiled for ${sizes.map(sizeName).join(", ")}, not ${name}`,
    );
  }
  return found;
}

/**
 * Another build of the same model, published beside it for adapters that lack a feature this
 * build needs: the float32 fallback of a float16 model (the plugin's `fallback_float32`).
 */
export interface Variant {
  /** Its folder, relative to this manifest's. */
  path: string;
  dtype: string;
  /** Its `webgpu.features`, so that the runtime can choose before fetching its manifest. */
  features: string[];
}

/** A file with the digest the runtime checks before use. */
export interface FileRef {
  path: string;
  bytes: number;
  sha256: string;
}

/** Subgroup matrices (tensor cores): C's fragments m × n, k deep, float16 operands summed in
 * float32, on subgroups of `subgroup_size` invocations. */
export interface MatrixConfig {
  m: number;
  n: number;
  k: number;
  subgroup_size: number;
}

/** A file of GEMM kernels written for subgroup matrices (src/matrix_kernels.ts). */
export interface MatrixKernelsRef extends FileRef {
  config: MatrixConfig;
  /** How many of the library's kernels it holds stand-ins for. */
  kernels: number;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  format_version: typeof MANIFEST_FORMAT_VERSION;
  name: string;
  family: string;
  dtype: string;
  /** The sizes the library is compiled for; the first is the default. */
  sizes: ImageSize[];
  latent_channels: number;
  vae_scaling_factor: number;
  prediction_type: string;
  text: {
    max_length: number;
    hidden_size: number;
    bos_token_id: number;
    eos_token_id: number;
    pad_token_id: number;
  };
  /** The diffusers scheduler_config.json, verbatim. */
  scheduler: SchedulerConfig;
  default_scheduler: SchedulerId;
  /** Every compiled function by name: encode_text(input_ids) → text_embeds, and each size's. */
  functions: Record<string, FunctionSig>;
  /** Weight groups: the parameter names each function takes, in order. */
  params: Record<string, string[]>;
  library: FileRef;
  weights: {
    format: string;
    index: string;
    bytes: number;
    shards: FileRef[];
    /** Where the index and shards live when not beside the manifest: absolute, or relative to it. */
    base_url?: string;
  };
  tokenizer: string;
  webgpu: {
    features: string[];
    limits: Record<string, number>;
    /** Absent from manifests written before websd wrote any. */
    matrix_kernels?: MatrixKernelsRef[];
  };
  versions: Record<string, string>;
  content_hash: string;
  /** `variants`: only in a site's copy of a manifest, written by the plugin. */
  extra: { variants?: Variant[] } & Record<string, unknown>;
}

export class ManifestError extends Error {
  override name = "ManifestError";
}

type Check<T> = (value: unknown, path: string) => T;

function fail(path: string, expected: string, value: unknown): never {
  const got = value === undefined ? "missing" : JSON.stringify(value);
  throw new ManifestError(`${MANIFEST_NAME}: "${path}" must be ${expected}, got ${got}`);
}

const str: Check<string> = (v, p) => (typeof v === "string" ? v : fail(p, "a string", v));
const num: Check<number> = (v, p) =>
  typeof v === "number" && Number.isFinite(v) ? v : fail(p, "a number", v);
const count: Check<number> = (v, p) =>
  Number.isInteger(v) && (v as number) >= 0 ? (v as number) : fail(p, "a non-negative integer", v);

function obj(v: unknown, p: string): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : fail(p, "an object", v);
}

function list<T>(item: Check<T>): Check<T[]> {
  return (v, p) =>
    Array.isArray(v) ? v.map((x, i) => item(x, `${p}[${i}]`)) : fail(p, "an array", v);
}

function record<T>(item: Check<T>): Check<Record<string, T>> {
  return (v, p) =>
    Object.fromEntries(Object.entries(obj(v, p)).map(([k, x]) => [k, item(x, `${p}.${k}`)]));
}

/** An object with the given keys checked; other keys pass through for forward compatibility. */
function shape<T>(fields: { [K in keyof T]-?: Check<T[K]> }): Check<T> {
  return (v, p) => {
    const o = obj(v, p);
    const out: Record<string, unknown> = { ...o };
    for (const [key, check] of Object.entries(fields) as [string, Check<unknown>][]) {
      out[key] = check(o[key], p ? `${p}.${key}` : key);
    }
    return out as T;
  };
}

const tensorSpec: Check<TensorSpec> = (v, p) => {
  const o = obj(v, p);
  const spec: TensorSpec = {
    ...o,
    name: str(o.name, `${p}.name`),
    dtype: str(o.dtype, `${p}.dtype`),
    shape: list(count)(o.shape, `${p}.shape`),
  };
  if (o.layout !== undefined) spec.layout = str(o.layout, `${p}.layout`);
  return spec;
};

const functionSig = shape<FunctionSig>({
  name: str,
  params: str,
  inputs: list(tensorSpec),
  output: tensorSpec,
});

const fileRef = shape<FileRef>({ path: str, bytes: count, sha256: str });

const matrixKernelsRef = shape<MatrixKernelsRef>({
  path: str,
  bytes: count,
  sha256: str,
  config: shape<MatrixConfig>({ m: count, n: count, k: count, subgroup_size: count }),
  kernels: count,
});

const variant = shape<Variant>({ path: str, dtype: str, features: list(str) });

const schedulerId: Check<SchedulerId> = (v, p) =>
  typeof v === "string" && isSchedulerId(v) ? v : fail(p, "a websd scheduler id", v);

const imageSize = shape<ImageSize>({
  width: count,
  height: count,
  latent: shape({ height: count, width: count }),
  functions: shape<Record<SizedFunction, string>>({
    denoise: str,
    denoise_cond: str,
    decode_image: str,
  }),
});

const body = shape<Omit<Manifest, "format" | "format_version">>({
  name: str,
  family: str,
  dtype: str,
  sizes: (v, p) => {
    const sizes = list(imageSize)(v, p);
    if (sizes.length === 0) fail(p, "a non-empty array", v);
    return sizes;
  },
  latent_channels: count,
  vae_scaling_factor: num,
  prediction_type: str,
  text: shape({
    max_length: count,
    hidden_size: count,
    bos_token_id: count,
    eos_token_id: count,
    pad_token_id: count,
  }),
  scheduler: obj,
  default_scheduler: schedulerId,
  functions: record(functionSig),
  params: record(list(str)),
  library: fileRef,
  weights: (v, p) => {
    const weights = shape<Omit<Manifest["weights"], "base_url">>({
      format: str,
      index: str,
      bytes: count,
      shards: list(fileRef),
    })(v, p) as Manifest["weights"];
    if (weights.base_url !== undefined) str(weights.base_url, `${p}.base_url`);
    return weights;
  },
  tokenizer: str,
  webgpu: (v, p) => {
    const webgpu = shape<Omit<Manifest["webgpu"], "matrix_kernels">>({
      features: list(str),
      limits: record(num),
    })(v, p) as Manifest["webgpu"];
    if (webgpu.matrix_kernels !== undefined) {
      webgpu.matrix_kernels = list(matrixKernelsRef)(webgpu.matrix_kernels, `${p}.matrix_kernels`);
    }
    return webgpu;
  },
  versions: record(str),
  content_hash: str,
  extra: (v, p) => {
    const extra: Manifest["extra"] = { ...obj(v, p) };
    if (extra.variants !== undefined) {
      extra.variants = list(variant)(extra.variants, `${p}.variants`);
    }
    return extra;
  },
});

/**
 * Checks a parsed `websd-model.json`: the format and its version first (a manifest from another
 * websd version gets a message saying so), then every key the runtime reads.
 */
export function parseManifest(json: unknown): Manifest {
  const o = obj(json, "(root)");
  if (o.format !== MANIFEST_FORMAT) {
    throw new ManifestError(
      `${MANIFEST_NAME}: "format" is ${JSON.stringify(o.format)}, not "${MANIFEST_FORMAT}": ` +
        "this is not a websd model manifest",
    );
  }
  if (o.format_version !== MANIFEST_FORMAT_VERSION) {
    throw new ManifestError(
      `${MANIFEST_NAME}: format_version ${JSON.stringify(o.format_version)} is not supported by ` +
        `this runtime (it reads version ${MANIFEST_FORMAT_VERSION}); rebuild the model or the site ` +
        "with the same websd version",
    );
  }
  const manifest = body(o, "");
  const named = [
    "encode_text",
    ...manifest.sizes.flatMap((size) => SIZED_FUNCTIONS.map((kind) => size.functions[kind])),
  ];
  for (const name of named) {
    if (!(name in manifest.functions)) fail(`functions.${name}`, "a function signature", undefined);
  }
  return { ...manifest, format: MANIFEST_FORMAT, format_version: MANIFEST_FORMAT_VERSION };
}

/** Absolute URLs of everything the runtime fetches for a model. */
export interface ArtifactUrls {
  manifest: string;
  /** The artifact folder, with a trailing slash. */
  folder: string;
  library: string;
  tokenizer: string;
  /** The folder of the tensor index and shards, with a trailing slash (tvmjs resolves in it). */
  weights: string;
  shards: string[];
}

/** A folder URL (trailing slash) from the `model` a page gives: relative to the page's URL. */
export function manifestUrl(model: string, base: string): string {
  const folder = new URL(model, base);
  if (folder.pathname.endsWith(MANIFEST_NAME)) return folder.href;
  if (!folder.pathname.endsWith("/")) folder.pathname += "/";
  return new URL(MANIFEST_NAME, folder).href;
}

export function artifactUrls(manifest: Manifest, url: string): ArtifactUrls {
  const folder = new URL(".", url).href;
  const weights = new URL(manifest.weights.base_url ?? ".", url);
  if (!weights.pathname.endsWith("/")) weights.pathname += "/";
  return {
    manifest: url,
    folder,
    library: new URL(manifest.library.path, folder).href,
    tokenizer: new URL(manifest.tokenizer, folder).href,
    weights: weights.href,
    shards: manifest.weights.shards.map((shard) => new URL(shard.path, weights).href),
  };
}

/** The library, the weight shards and the subgroup-matrix kernels the runtime `uses`, if any
 * (the files with a sha256), at their URLs. */
export function checkedFiles(
  manifest: Manifest,
  urls: ArtifactUrls,
  uses?: MatrixKernelsRef,
): (FileRef & { url: string })[] {
  return [
    { ...manifest.library, url: urls.library },
    ...manifest.weights.shards.map((shard, i) => ({ ...shard, url: urls.shards[i] as string })),
    ...(uses === undefined ? [] : [{ ...uses, url: new URL(uses.path, urls.folder).href }]),
  ];
}
