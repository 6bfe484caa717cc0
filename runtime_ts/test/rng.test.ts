import assert from "node:assert/strict";
import { test } from "node:test";
import { TorchGenerator } from "../src/rng";
import { float32s, loadFixture, needsFixtures } from "./fixtures";

interface RngCase {
  seed: string;
  sizes: number[];
  draws: string[];
}

/** Indices where two float32 arrays differ in bits (so -0 vs +0 and NaNs count). */
function bitMismatches(actual: Float32Array, expected: Float32Array): number[] {
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  const bad: number[] = [];
  for (let i = 0; i < e.length; i++) if (a[i] !== e[i]) bad.push(i);
  return bad;
}

test("randn matches torch.randn bit for bit", { skip: needsFixtures }, () => {
  const { cases } = loadFixture<{ cases: RngCase[] }>("rng.json");
  for (const { seed, sizes, draws } of cases) {
    const big = BigInt(seed);
    const asNumber = Number(big);
    // Seeds a float64 holds exactly also go in as numbers; the rest as bigints.
    const generator = new TorchGenerator(Number.isSafeInteger(asNumber) ? asNumber : big);
    sizes.forEach((n, k) => {
      const expected = float32s(draws[k] as string);
      const actual = generator.randn(n);
      assert.equal(actual.length, n);
      const bad = bitMismatches(actual, expected);
      assert.deepEqual(
        bad.slice(0, 5),
        [],
        `seed ${seed}, draw ${k} (n=${n}): ${bad.length} differ`,
      );
    });
  }
});

test("a seed and its value mod 2^32 give one stream, as in PyTorch", () => {
  const a = new TorchGenerator(7).randn(40);
  const b = new TorchGenerator(2 ** 32 + 7).randn(40);
  const c = new TorchGenerator(BigInt(2 ** 32 + 7)).randn(40);
  assert.deepEqual(a, b);
  assert.deepEqual(a, c);
});

test("bad seeds and sizes are refused", () => {
  assert.throws(() => new TorchGenerator(1.5), RangeError);
  assert.throws(() => new TorchGenerator(2 ** 60), RangeError);
  assert.throws(() => new TorchGenerator(1n << 64n), RangeError);
  assert.throws(() => new TorchGenerator(0).randn(-1), RangeError);
});
