/**
 * A model made ready to generate on a device: its files fetched (or found cached) and checked,
 * its kernels compiled, its tokenizer loaded. The worker does this for a page; test/generate.ts
 * for node. Apart from pipeline.ts, whose request checks the page bundle also uses: this pulls
 * in tvmjs and the tokenizer's wasm, which only the worker bundle carries.
 */

import { artifactUrls, checkedFiles, type Manifest, type MatrixKernelsRef } from "./manifest";
import { matrixKernelsError, useMatrixKernels, type MatrixKernels } from "./matrix_kernels";
import { Model } from "./model";
import { Pipeline } from "./pipeline";
import type { LoadEvent } from "./protocol";
import { ModelStore } from "./store";
import { PromptTokenizer } from "./tokenizer";

/** A model ready to generate, and whether its GEMMs run on subgroup matrices. */
export interface LoadedPipeline {
  pipeline: Pipeline;
  subgroupMatrices: boolean;
}

/** `matrix`: the set of subgroup-matrix kernels to run (pickMatrixKernels), on a device with
 * their feature; where the device rejects any of their WGSL, the library's kernels run. */
export async function loadPipeline(
  manifestUrl: string,
  manifest: Manifest,
  device: GPUDevice,
  onProgress: (event: LoadEvent) => void,
  matrix?: MatrixKernelsRef,
): Promise<LoadedPipeline> {
  const urls = artifactUrls(manifest, manifestUrl);
  const files = checkedFiles(manifest, urls, matrix);
  const store = new ModelStore(files, manifest.content_hash, (p) =>
    onProgress({ kind: "download", ...p }),
  );
  let subgroupMatrices = false;
  if (matrix !== undefined) {
    const url = new URL(matrix.path, urls.folder).href;
    const kernels = JSON.parse(new TextDecoder().decode(await store.bytes(url))) as MatrixKernels;
    const error = await matrixKernelsError(device, kernels);
    if (error === null) useMatrixKernels(device, kernels);
    else console.warn(`websd: the library's kernels run, not ${matrix.path}'s: ${error}`);
    subgroupMatrices = error === null;
  }
  const tokenizerJson = await store.bytes(urls.tokenizer);
  const model = await Model.load(manifest, urls, device, store, (fraction) =>
    onProgress({ kind: "compile", fraction }),
  );
  const tokenizer = await PromptTokenizer.load(tokenizerJson.buffer, manifest.text);
  return { pipeline: new Pipeline(manifest, model, tokenizer), subgroupMatrices };
}
