/**
 * Loading the fixtures tests/ts_fixtures.py writes with real torch and diffusers. pytest
 * (tests/test_runtime_ts.py) generates them and points WEBSD_TS_FIXTURES at the folder.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.env.WEBSD_TS_FIXTURES;

/** The `skip` option of fixture tests: a reason when the fixtures are not there. */
export const needsFixtures: string | false =
  dir === undefined || dir === ""
    ? "WEBSD_TS_FIXTURES is not set: run `pytest tests/test_runtime_ts.py`, or " +
      "`python tests/ts_fixtures.py DIR` and set it to DIR"
    : false;

export function loadFixture<T>(name: string): T {
  if (dir === undefined) throw new Error(needsFixtures || "no fixtures");
  return JSON.parse(readFileSync(join(dir, name), "utf8")) as T;
}

/** A float32 array from the base64 of its little-endian bytes. */
export function float32s(base64: string): Float32Array {
  const bytes = Buffer.from(base64, "base64");
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}
