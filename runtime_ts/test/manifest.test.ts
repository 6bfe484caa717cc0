import assert from "node:assert/strict";
import { test } from "node:test";
import fixture from "../../tests/fixtures/websd-model.json";
import { MANIFEST_FORMAT_VERSION, ManifestError, parseManifest } from "../src/manifest";

const clone = (): Record<string, unknown> => structuredClone(fixture) as Record<string, unknown>;

test("parses the manifest fixture the compiler's tests share", () => {
  const manifest = parseManifest(clone());
  assert.equal(manifest.format_version, MANIFEST_FORMAT_VERSION);
  assert.equal(manifest.default_scheduler, "dpm++2m");
  assert.deepEqual(manifest.latent, { channels: 4, height: 8, width: 8 });
  assert.equal(manifest.functions.denoise.inputs[2]?.name, "text_embeds");
  assert.equal(manifest.functions.decode_image.output.layout, "rgba8-packed");
  assert.equal(manifest.scheduler._class_name, "PNDMScheduler");
  assert.equal(manifest.weights.shards.length, 1);
});

test("another format or version is refused with a message that says so", () => {
  const other = { ...clone(), format: "something-else" };
  assert.throws(() => parseManifest(other), /not a websd model manifest/);
  const newer = { ...clone(), format_version: MANIFEST_FORMAT_VERSION + 1 };
  assert.throws(() => parseManifest(newer), /format_version 2 is not supported/);
  assert.throws(() => parseManifest([]), ManifestError);
});

test("missing or mistyped keys are named with their path", () => {
  const noDenoise = clone();
  delete (noDenoise.functions as Record<string, unknown>).denoise;
  assert.throws(
    () => parseManifest(noDenoise),
    /"functions\.denoise" must be a function signature/,
  );

  const badShape = clone();
  const encode = (badShape.functions as Record<string, { inputs: { shape: unknown }[] }>)
    .encode_text;
  (encode?.inputs[0] as { shape: unknown }).shape = [1, -77];
  assert.throws(() => parseManifest(badShape), /"functions\.encode_text\.inputs\[0\]\.shape\[1\]"/);

  const noLatent = clone();
  delete noLatent.latent;
  assert.throws(() => parseManifest(noLatent), /"latent" must be an object, got missing/);

  const badScheduler = { ...clone(), default_scheduler: "plms" };
  assert.throws(
    () => parseManifest(badScheduler),
    /"default_scheduler" must be a websd scheduler id/,
  );
});
