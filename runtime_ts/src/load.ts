/**
 * A model made ready to generate on a device: its files fetched (or found cached) and checked,
 * its kernels compiled, its tokenizer loaded. The worker does this for a page; test/generate.ts
 * for node. Apart from pipeline.ts, whose request checks the page bundle also uses: this pulls
 * in tvmjs and the tokenizer's wasm, which only the worker bundle carries.
 */

import { artifactUrls, checkedFiles, type Manifest } from "./manifest";
import { Model } from "./model";
import { Pipeline } from "./pipeline";
import type { LoadEvent } from "./protocol";
import { ModelStore } from "./store";
import { PromptTokenizer } from "./tokenizer";

export async function loadPipeline(
  manifestUrl: string,
  manifest: Manifest,
  device: GPUDevice,
  onProgress: (event: LoadEvent) => void,
): Promise<Pipeline> {
  const urls = artifactUrls(manifest, manifestUrl);
  const store = new ModelStore(checkedFiles(manifest, urls), manifest.content_hash, (p) =>
    onProgress({ kind: "download", ...p }),
  );
  const tokenizerJson = await store.bytes(urls.tokenizer);
  const model = await Model.load(manifest, urls, device, store, (fraction) =>
    onProgress({ kind: "compile", fraction }),
  );
  const tokenizer = await PromptTokenizer.load(tokenizerJson.buffer, manifest.text);
  return new Pipeline(manifest, model, tokenizer);
}
