import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fitToLength, PromptTokenizer, type TextSpec } from "../src/tokenizer";
import { loadFixture, needsFixtures } from "./fixtures";

const TEXT: TextSpec = { max_length: 5, bos_token_id: 1, eos_token_id: 2, pad_token_id: 0 };

test("short prompts are padded with the pad id", () => {
  const { ids, truncated } = fitToLength([1, 7, 8, 2], TEXT);
  assert.deepEqual(Array.from(ids), [1, 7, 8, 2, 0]);
  assert.equal(truncated, false);
});

test("long prompts keep max_length - 1 ids and end with eos", () => {
  const exact = fitToLength([1, 7, 8, 9, 2], TEXT);
  assert.deepEqual(Array.from(exact.ids), [1, 7, 8, 9, 2]);
  assert.equal(exact.truncated, false);
  const long = fitToLength([1, 7, 8, 9, 10, 11, 2], TEXT);
  assert.deepEqual(Array.from(long.ids), [1, 7, 8, 9, 2]);
  assert.equal(long.truncated, true);
});

interface PromptCases {
  text: TextSpec & { max_length: number };
  cases: { prompt: string; max_length: number; ids: number[]; truncated: boolean }[];
}

test(
  "ids equal compiler/tokenizer.py encode_prompt on the exported tokenizer.json",
  { skip: needsFixtures },
  async () => {
    const fixture = loadFixture<PromptCases>("prompts.json");
    const json = readFileSync(join(process.env.WEBSD_TS_FIXTURES as string, "tokenizer.json"));
    const bytes = new Uint8Array(json).buffer;
    for (const c of fixture.cases) {
      const tokenizer = await PromptTokenizer.load(bytes, {
        ...fixture.text,
        max_length: c.max_length,
      });
      const { ids, truncated } = tokenizer.encode(c.prompt);
      assert.deepEqual(Array.from(ids), c.ids, JSON.stringify(c.prompt));
      assert.equal(truncated, c.truncated, JSON.stringify(c.prompt));
      tokenizer.dispose();
    }
  },
);
