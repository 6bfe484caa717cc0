import assert from "node:assert/strict";
import { test } from "node:test";
import fixture from "../../tests/fixtures/websd-model.json";
import {
  artifactUrls,
  findSize,
  MANIFEST_FORMAT_VERSION,
  ManifestError,
  manifestUrl,
  parseManifest,
} from "../src/manifest";

const clone = (): Record<string, unknown> => structuredClone(fixture) as Record<string, unknown>;

test("parses the manifest fixture, a tiny model's as the compiler wrote it", () => {
  const manifest = parseManifest(clone());
  assert.equal(manifest.format_version, MANIFEST_FORMAT_VERSION);
  assert.equal(manifest.default_scheduler, "dpm++2m");
  assert.equal(manifest.latent_channels, 4);
  const size = findSize(manifest);
  assert.deepEqual([size.width, size.height, size.latent], [64, 64, { height: 8, width: 8 }]);
  const denoise = manifest.functions[size.functions.denoise];
  assert.equal(denoise?.inputs[2]?.name, "text_embeds");
  assert.deepEqual(manifest.functions[size.functions.denoise_cond]?.inputs[2]?.shape, [1, 77, 32]);
  assert.equal(manifest.functions[size.functions.decode_image]?.output.layout, "rgba8-packed");
  assert.equal(manifest.scheduler._class_name, "PNDMScheduler");
  assert.equal(manifest.weights.shards.length, 1);
  assert.equal(manifest.params[denoise?.params ?? ""]?.[0], "unet.p_unet_conv_in_weight");
});

test("a size is found by its name, and one the library lacks is refused with the built ones", () => {
  const manifest = parseManifest(clone());
  assert.equal(findSize(manifest, "64x64"), manifest.sizes[0]);
  assert.throws(() => findSize(manifest, "128x64"), /compiled for 64x64, not 128x64/);
});

test("file URLs resolve against the manifest's, weights against base_url", () => {
  const page = "https://user.github.io/site/docs/page/";
  const url = manifestUrl("../../assets/websd/models/tiny", page);
  assert.equal(url, "https://user.github.io/site/assets/websd/models/tiny/websd-model.json");
  assert.equal(manifestUrl(url, page), url);
  const manifest = parseManifest(clone());
  const urls = artifactUrls(manifest, url);
  assert.equal(urls.folder, "https://user.github.io/site/assets/websd/models/tiny/");
  assert.equal(urls.library, `${urls.folder}model.wasm`);
  assert.equal(urls.tokenizer, `${urls.folder}tokenizer.json`);
  assert.equal(urls.weights, urls.folder);
  assert.deepEqual(urls.shards, [`${urls.folder}params_shard_0.bin`]);

  const relative = {
    ...manifest,
    weights: { ...manifest.weights, base_url: "../../weights/tiny" },
  };
  assert.equal(
    artifactUrls(relative, url).weights,
    "https://user.github.io/site/assets/websd/weights/tiny/",
  );
  const absolute = {
    ...manifest,
    weights: { ...manifest.weights, base_url: "https://cdn.test/w/" },
  };
  assert.deepEqual(artifactUrls(absolute, url).shards, ["https://cdn.test/w/params_shard_0.bin"]);
});

test("another format or version is refused with a message that says so", () => {
  const other = { ...clone(), format: "something-else" };
  assert.throws(() => parseManifest(other), /not a websd model manifest/);
  const newer = { ...clone(), format_version: MANIFEST_FORMAT_VERSION + 1 };
  assert.throws(
    () => parseManifest(newer),
    new RegExp(`format_version ${MANIFEST_FORMAT_VERSION + 1} is not supported`),
  );
  assert.throws(() => parseManifest([]), ManifestError);
});

test("missing or mistyped keys are named with their path", () => {
  for (const name of ["encode_text", "denoise_64x64", "denoise_cond_64x64"]) {
    const missing = clone();
    delete (missing.functions as Record<string, unknown>)[name];
    assert.throws(
      () => parseManifest(missing),
      new RegExp(`"functions\\.${name}" must be a function signature`),
    );
  }

  const badShape = clone();
  const encode = (badShape.functions as Record<string, { inputs: { shape: unknown }[] }>)
    .encode_text;
  (encode?.inputs[0] as { shape: unknown }).shape = [1, -77];
  assert.throws(() => parseManifest(badShape), /"functions\.encode_text\.inputs\[0\]\.shape\[1\]"/);

  const noLatent = clone();
  delete (noLatent.sizes as Record<string, unknown>[])[0]?.latent;
  assert.throws(() => parseManifest(noLatent), /"sizes\[0\]\.latent" must be an object/);

  const noSizes = { ...clone(), sizes: [] };
  assert.throws(() => parseManifest(noSizes), /"sizes" must be a non-empty array/);

  const badBase = clone();
  (badBase.weights as Record<string, unknown>).base_url = 7;
  assert.throws(() => parseManifest(badBase), /"weights\.base_url" must be a string, got 7/);

  const badScheduler = { ...clone(), default_scheduler: "plms" };
  assert.throws(
    () => parseManifest(badScheduler),
    /"default_scheduler" must be a websd scheduler id/,
  );
});
