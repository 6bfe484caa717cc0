import assert from "node:assert/strict";
import { test } from "node:test";
import { WebsdError } from "../src/errors";
import { checkAdapter } from "../src/gpu";

/** The parts of a GPUAdapter that checkAdapter reads. */
function adapter(features: string[], limits: Record<string, number>): GPUAdapter {
  return { features: new Set(features), limits } as unknown as GPUAdapter;
}

const SWIFTSHADER = adapter(["timestamp-query", "subgroups"], {
  maxBufferSize: 2 ** 30,
  maxStorageBufferBindingSize: 2 ** 30,
  minStorageBufferOffsetAlignment: 256,
});

function code(run: () => void): string | undefined {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof WebsdError);
    return error.code;
  }
  return undefined;
}

test("a float32 model within the limits runs", () => {
  const needs = {
    features: [],
    limits: { maxBufferSize: 2 ** 28, maxStorageBufferBindingSize: 2 ** 27 },
  };
  assert.equal(
    code(() => checkAdapter(SWIFTSHADER, needs)),
    undefined,
  );
});

test("an fp16 model needs shader-f16", () => {
  const needs = { features: ["shader-f16"], limits: {} };
  assert.equal(
    code(() => checkAdapter(SWIFTSHADER, needs)),
    "no-shader-f16",
  );
  assert.throws(
    () => checkAdapter(SWIFTSHADER, needs),
    /16-bit floats \(the WebGPU feature shader-f16\).*no float32 version of it is published/,
  );
  assert.equal(
    code(() => checkAdapter(adapter(["shader-f16"], {}), needs)),
    undefined,
  );
});

test("limits below the model's needs are named with both values", () => {
  const needs = { features: [], limits: { maxStorageBufferBindingSize: 2 ** 31 } };
  assert.throws(
    () => checkAdapter(SWIFTSHADER, needs),
    /maxStorageBufferBindingSize 2048 MiB \(this GPU offers 1024 MiB\)/,
  );
  const unknown = { features: [], limits: { maxSomethingNew: 4 } };
  assert.equal(
    code(() => checkAdapter(SWIFTSHADER, unknown)),
    "limits",
  );
});

test("alignment limits (min*) are met by smaller values", () => {
  const coarse = { features: [], limits: { minStorageBufferOffsetAlignment: 512 } };
  assert.equal(
    code(() => checkAdapter(SWIFTSHADER, coarse)),
    undefined,
  );
  const fine = { features: [], limits: { minStorageBufferOffsetAlignment: 64 } };
  assert.equal(
    code(() => checkAdapter(SWIFTSHADER, fine)),
    "limits",
  );
});
