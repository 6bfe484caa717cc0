/**
 * Prompt → token ids, with HF tokenizers compiled to wasm (`@mlc-ai/web-tokenizers`) reading the
 * model's tokenizer.json. Padding and truncation follow compiler/tokenizer.py `encode_prompt`,
 * the rule StableDiffusionPipeline applies, so the browser and the native runner feed the text
 * encoder the same ids.
 */

import "@mlc-ai/web-tokenizers";
import type { Tokenizer } from "@mlc-ai/web-tokenizers";
import type { Manifest } from "./manifest";

/**
 * The package ships a UMD bundle in a `"type": "module"` package: bundlers see no exports, and
 * the bundle defines its API on `globalThis.tokenizers` instead.
 */
function tokenizerClass(): typeof Tokenizer {
  const api = (globalThis as { tokenizers?: { Tokenizer: typeof Tokenizer } }).tokenizers;
  if (api === undefined) throw new Error("@mlc-ai/web-tokenizers did not load");
  return api.Tokenizer;
}

export type TextSpec = Pick<
  Manifest["text"],
  "max_length" | "bos_token_id" | "eos_token_id" | "pad_token_id"
>;

export interface EncodedPrompt {
  /** Exactly `max_length` ids. */
  ids: Int32Array;
  /** The prompt had more tokens than fit; its end was dropped. */
  truncated: boolean;
}

/**
 * Fits the tokenizer's ids (with the post-processor's bos/eos) to `max_length`: a longer prompt
 * keeps its first `max_length - 1` ids and ends with eos; a shorter one is padded with pad ids.
 */
export function fitToLength(ids: ArrayLike<number>, text: TextSpec): EncodedPrompt {
  const length = text.max_length;
  const out = new Int32Array(length).fill(text.pad_token_id);
  const truncated = ids.length > length;
  if (truncated) {
    for (let i = 0; i < length - 1; i++) out[i] = ids[i] as number;
    out[length - 1] = text.eos_token_id;
  } else {
    for (let i = 0; i < ids.length; i++) out[i] = ids[i] as number;
  }
  return { ids: out, truncated };
}

export class PromptTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    private readonly text: TextSpec,
  ) {}

  /** @param json the bytes of tokenizer.json */
  static async load(json: ArrayBuffer, text: TextSpec): Promise<PromptTokenizer> {
    return new PromptTokenizer(await tokenizerClass().fromJSON(json), text);
  }

  /**
   * web-tokenizers encodes without special tokens; the CLIP tokenizers' post-processor puts bos
   * before and eos after, as tokenizers' `encode` does in Python (tests check both agree).
   */
  encode(prompt: string): EncodedPrompt {
    const { bos_token_id: bos, eos_token_id: eos } = this.text;
    return fitToLength([bos, ...this.tokenizer.encode(prompt), eos], this.text);
  }

  dispose(): void {
    this.tokenizer.dispose();
  }
}
