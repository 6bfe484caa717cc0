import assert from "node:assert/strict";
import { test } from "node:test";
import { TorchGenerator } from "../src/rng";
import {
  createScheduler,
  SCHEDULER_IDS,
  type SchedulerConfig,
  type SchedulerId,
} from "../src/schedulers";
import { float32s, loadFixture, needsFixtures } from "./fixtures";

interface TimestepsEntry {
  n: number;
  timesteps?: number[];
  init_noise_sigma?: number;
  error?: string;
}

interface Run {
  n: number;
  seed: number;
  latents: string;
  samples: string[];
}

interface Case {
  scheduler: SchedulerId;
  config_name: string;
  prediction_type: string;
  config: SchedulerConfig;
  timesteps: TimestepsEntry[];
  runs: Run[];
}

interface Fixture {
  shape: number[];
  pattern: string;
  cases: Case[];
}

/** Tolerance: |actual - expected| ≤ ATOL + RTOL·|expected|. */
const ATOL = 1e-5;
const RTOL = 1e-5;

/** The fixture runs' denoiser, as tests/ts_fixtures.py's `fake_model` computes it. */
function fakeModel(sample: Float32Array, timestep: number, pattern: Float32Array): Float32Array {
  return sample.map((x, i) => x * 0.75 + (pattern[i] as number) * (timestep / 1000));
}

class ErrorStats {
  maxAbs = 0;
  maxRel = 0;

  compare(actual: Float32Array, expected: Float32Array, where: string): void {
    assert.equal(actual.length, expected.length, where);
    expected.forEach((e, i) => {
      const a = actual[i] as number;
      // diffusers' own rounding can give NaN (Euler-a on the cosine schedule): so must we.
      if (Number.isNaN(a) && Number.isNaN(e)) return;
      const abs = Math.abs(a - e);
      if (!(abs <= ATOL + RTOL * Math.abs(e))) {
        assert.fail(`${where}: element ${i} is ${a}, diffusers gives ${e}`);
      }
      this.maxAbs = Math.max(this.maxAbs, abs);
      this.maxRel = Math.max(this.maxRel, abs / Math.max(Math.abs(e), 1));
    });
  }

  toString(): string {
    const abs = this.maxAbs.toExponential(2);
    return `max |Δ| ${abs}, max |Δ|/max(1,|x|) ${this.maxRel.toExponential(2)}`;
  }
}

const fixture = needsFixtures ? null : loadFixture<Fixture>("schedulers.json");

for (const id of SCHEDULER_IDS) {
  test(`${id}: timesteps and sampling runs match diffusers`, { skip: needsFixtures }, (t) => {
    const { pattern: patternB64, cases } = fixture as Fixture;
    const pattern = float32s(patternB64);
    const stats = new ErrorStats();
    const mine = cases.filter((c) => c.scheduler === id);
    assert.ok(mine.length > 0, `no fixture cases for ${id}`);
    for (const c of mine) {
      const label = `${id} ${c.config_name}/${c.prediction_type}`;
      for (const entry of c.timesteps) {
        const scheduler = createScheduler(id, c.config);
        if (entry.error !== undefined) {
          assert.throws(
            () => scheduler.setTimesteps(entry.n),
            `${label} n=${entry.n}: ${entry.error}`,
          );
          continue;
        }
        scheduler.setTimesteps(entry.n);
        assert.deepEqual(scheduler.timesteps, entry.timesteps, `${label} n=${entry.n} timesteps`);
        // PyTorch's float32 sqrt on the CPU (MKL) is not correctly rounded: allow an ulp or two.
        const sigma = entry.init_noise_sigma as number;
        const off = Math.abs(scheduler.initNoiseSigma - sigma) / sigma;
        assert.ok(
          off < 1e-6,
          `${label} n=${entry.n}: initNoiseSigma ${scheduler.initNoiseSigma} ≠ ${sigma}`,
        );
      }
      for (const run of c.runs) {
        const scheduler = createScheduler(id, c.config);
        scheduler.setTimesteps(run.n);
        const generator = new TorchGenerator(run.seed);
        const noise = generator.randn(pattern.length);
        let sample: Float32Array = noise.map((x) => x * scheduler.initNoiseSigma);
        stats.compare(sample, float32s(run.latents), `${label} n=${run.n} initial latents`);
        scheduler.timesteps.forEach((timestep, k) => {
          const output = fakeModel(scheduler.scaleModelInput(sample, timestep), timestep, pattern);
          sample = scheduler.step(output, timestep, sample, generator);
          stats.compare(
            sample,
            float32s(run.samples[k] as string),
            `${label} n=${run.n} step ${k}`,
          );
        });
      }
    }
    t.diagnostic(`${id}: ${stats}`);
  });
}
