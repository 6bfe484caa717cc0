/**
 * A model made ready to generate on a device: its files fetched (or found cached) and checked,
 * its kernels compiled, its tokenizer loaded. The worker does this for a page; test/generate.ts
 * for node. Apart from pipeline.ts, whose request checks the page bundle also uses: this pulls
 * in tvmjs and the tokenizer's wasm, which only the worker bundle carries.
 */

import { artifactUrls, checkedFiles, type Manifest, type MatrixKernelsRef } from "./manifest";
import { useMatrixKernels, type MatrixKernels } from "./matrix_kernels";
import { Model } from "./model";
import { Pipeline } from "./pipeline";
import type { LoadEvent } from "./protocol";
import { ModelStore } from "./store";
import { PromptTokenizer } from "./tokenizer";

/** `matrix`: the set of subgroup-matrix kernels to run (pickMatrixKernels), on a device with
 * their feature. */
export async function loadPipeline(
  manifestUrl: string,
  manifest: Manifest,
  device: GPUDevice,
  onProgress: (event: LoadEvent) => void,
  matrix?: MatrixKernelsRef,
): Promise<Pipeline> {
  const urls = artifactUrls(manifest, manifestUrl);
  const files = checkedFiles(manifest, urls, matrix);
  const store = new ModelStore(files, manifest.content_hash, (p) =>
    onProgress({ kind: "download", ...p }),
  );
  if (matrix !== undefined) {
    const text = new TextDecoder().decode(
      await store.bytes(new URL(matrix.path, urls.folder).href),
    );
    useMatrixKernels(device, JSON.parse(text) as MatrixKernels);
  }
  const tokenizerJson = await store.bytes(urls.tokenizer);
  const model = await Model.load(manifest, urls, device, store, (fraction) =>
    onProgress({ kind: "compile", fraction }),
  );
  const tokenizer = await PromptTokenizer.load(tokenizerJson.buffer, manifest.text);
  return new Pipeline(manifest, model, tokenizer);
}
