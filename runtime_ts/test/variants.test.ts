import assert from "node:assert/strict";
import { test } from "node:test";
import fixture from "../../tests/fixtures/websd-model.json";
import { type Manifest, parseManifest, type Variant } from "../src/manifest";
import { pickFallback } from "../src/variants";

const FLOAT32: Variant = { path: "float32/", dtype: "float32", features: [] };

/** The fixture as a float16 build, with the given variants as the plugin lists them. */
function float16(variants?: Variant[]): Manifest {
  const json = structuredClone(fixture) as Record<string, unknown>;
  json.dtype = "float16";
  json.webgpu = { ...(json.webgpu as object), features: ["shader-f16"] };
  if (variants !== undefined) json.extra = { variants };
  return parseManifest(json);
}

const NO_F16 = new Set(["subgroups", "timestamp-query"]);
const F16 = new Set(["shader-f16", "subgroups"]);

test("an adapter with shader-f16 runs the float16 build itself", () => {
  assert.equal(pickFallback(float16([FLOAT32]), F16), undefined);
});

test("an adapter without shader-f16 runs the float32 variant, and says why", () => {
  assert.deepEqual(pickFallback(float16([FLOAT32]), NO_F16), {
    variant: FLOAT32,
    reason: "float32 fallback: this GPU lacks shader-f16",
  });
});

test("with no variant that fits, the model's own build is checked (and refused)", () => {
  assert.equal(pickFallback(float16(), NO_F16), undefined);
  const needsMore = { ...FLOAT32, features: ["subgroups-f16"] };
  assert.equal(pickFallback(float16([needsMore]), NO_F16), undefined);
});

test("a float32 build needs no fallback", () => {
  assert.equal(pickFallback(parseManifest(structuredClone(fixture)), new Set()), undefined);
});

test("variants are checked like the rest of the manifest", () => {
  assert.deepEqual(float16([FLOAT32]).extra.variants, [FLOAT32]);
  const json = { ...structuredClone(fixture), extra: { variants: [{ path: "float32/" }] } };
  assert.throws(() => parseManifest(json), /"extra\.variants\[0\]\.dtype" must be a string/);
});
