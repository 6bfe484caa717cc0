/**
 * The model's files, kept across page loads in the browser's Cache API and checked before use.
 *
 * It implements tvmjs's `ArtifactCacheTemplate`, so `fetchTensorCache` reads the weight shards
 * through it; the wasm library and the tokenizer come through it too. Files with a sha256 in the
 * manifest are cached under their URL: a rebuilt model at the same URL fails the check and is
 * downloaded again. Files without one (the tensor index, tokenizer.json) are cached under their
 * URL plus the manifest's content hash, so a rebuild never reads a stale copy.
 *
 * Every file with a digest is hashed before use, whether it came from the network or the cache;
 * a mismatch deletes it and downloads it once more, and a second mismatch is an error.
 */

import type { ArtifactCacheTemplate } from "@mlc-ai/web-runtime";
import { abortError, isAbort, WebsdError } from "./errors";

export const CACHE_NAME = "websd-models";

/** A file the store may be asked for, by absolute URL. */
export interface StoreFile {
  url: string;
  bytes?: number;
  sha256?: string;
}

export interface DownloadProgress {
  /** Bytes of the listed files present so far, from the network or the cache. */
  loaded: number;
  /** Bytes of all listed files. */
  total: number;
  /** Bytes that came over the network so far. */
  fetched: number;
}

const REPORT_INTERVAL_MS = 100;

function fileName(url: string): string {
  return new URL(url).pathname.split("/").pop() || url;
}

function toHex(digest: ArrayBuffer): string {
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

export class ModelStore implements ArtifactCacheTemplate {
  private cache: Promise<Cache> | undefined;
  private readonly files = new Map<string, StoreFile>();
  private readonly verified = new Set<string>();
  /** Bytes present per file URL; their sum is the progress. */
  private readonly present = new Map<string, number>();
  private fetched = 0;
  private lastReport = 0;

  /**
   * @param version the manifest's content hash: the cache key of files without a digest.
   * @param onProgress called as bytes arrive, at most every 100 ms, and when a file completes.
   */
  constructor(
    files: readonly StoreFile[],
    private readonly version: string,
    private readonly onProgress: (progress: DownloadProgress) => void = () => {},
    private readonly signal?: AbortSignal,
  ) {
    for (const file of files) this.files.set(file.url, file);
  }

  get total(): number {
    let total = 0;
    for (const file of this.files.values()) total += file.bytes ?? 0;
    return total;
  }

  /** The bytes of `url`, from the cache or the network, checked against its digest. */
  async bytes(url: string, signal?: AbortSignal): Promise<Uint8Array<ArrayBuffer>> {
    const key = this.key(url);
    const cached = await (await this.open()).match(key);
    if (cached !== undefined) {
      const bytes = new Uint8Array(await cached.arrayBuffer());
      if (await this.matchesDigest(url, bytes)) {
        this.setPresent(url, bytes.byteLength, true);
        return bytes;
      }
      await (await this.open()).delete(key);
    }
    return this.download(url, signal ?? this.signal, cached !== undefined);
  }

  async fetchWithCache(url: string, storetype?: string, signal?: AbortSignal): Promise<unknown> {
    const bytes = await this.bytes(url, signal);
    if (storetype?.toLowerCase() === "json") return JSON.parse(new TextDecoder().decode(bytes));
    return bytes.buffer;
  }

  async addToCache(url: string, _storetype?: string, signal?: AbortSignal): Promise<void> {
    if ((await (await this.open()).match(this.key(url))) === undefined) {
      await this.download(url, signal ?? this.signal, false);
    }
  }

  async hasAllKeys(urls: string[]): Promise<boolean> {
    const cache = await this.open();
    const found = await Promise.all(urls.map((url) => cache.match(this.key(url))));
    return found.every((response) => response !== undefined);
  }

  async deleteInCache(url: string): Promise<void> {
    await (await this.open()).delete(this.key(url));
  }

  private key(url: string): string {
    if (this.files.get(url)?.sha256 !== undefined) return url;
    const key = new URL(url);
    key.searchParams.set("websd-version", this.version);
    return key.href;
  }

  private open(): Promise<Cache> {
    if (typeof caches === "undefined") {
      throw new WebsdError(
        "storage",
        "This browser gives the page no Cache Storage (private mode or storage disabled), " +
          "which websd needs to hold the model's weights.",
      );
    }
    this.cache ??= caches.open(CACHE_NAME);
    return this.cache;
  }

  private async matchesDigest(url: string, bytes: Uint8Array<ArrayBuffer>): Promise<boolean> {
    const expected = this.files.get(url)?.sha256;
    if (expected === undefined || this.verified.has(url)) return true;
    const actual = toHex(await crypto.subtle.digest("SHA-256", bytes));
    if (actual !== expected) return false;
    this.verified.add(url);
    return true;
  }

  /** Fetch, check and cache one file; after `retried` a bad digest is final. */
  private async download(
    url: string,
    signal: AbortSignal | undefined,
    retried: boolean,
  ): Promise<Uint8Array<ArrayBuffer>> {
    const bytes = await this.fetchBody(url, signal, retried);
    if (!(await this.matchesDigest(url, bytes))) {
      this.setPresent(url, 0, true);
      if (!retried) return this.download(url, signal, true);
      throw new WebsdError(
        "integrity",
        `The model file ${fileName(url)} is corrupt: its sha256 does not match the model's ` +
          "manifest, even after downloading it again. The site's copy of the model may be " +
          "damaged or being updated; try again later.",
      );
    }
    try {
      await (await this.open()).put(this.key(url), new Response(bytes));
    } catch (error) {
      if (error instanceof DOMException && error.name === "QuotaExceededError") {
        const mb = (this.total / 2 ** 20).toFixed(0);
        throw new WebsdError(
          "storage",
          `The browser has no room to store this model (${mb} MB) for this site. Free up disk ` +
            "space, or clear the cached weights of other models or sites, then retry.",
        );
      }
      throw error;
    }
    return bytes;
  }

  private async fetchBody(
    url: string,
    signal: AbortSignal | undefined,
    reload: boolean,
  ): Promise<Uint8Array<ArrayBuffer>> {
    const name = fileName(url);
    let response: Response;
    try {
      // The Cache API is the cache: keep the HTTP cache from holding a second copy, or a bad one.
      response = await fetch(url, {
        signal: signal ?? null,
        cache: reload ? "reload" : "no-store",
      });
    } catch (error) {
      if (isAbort(error)) throw abortError();
      throw new WebsdError(
        "download",
        `Could not download the model file ${name}: ${(error as Error).message}. ` +
          "Check your connection and retry.",
      );
    }
    if (!response.ok || response.body === null) {
      throw new WebsdError(
        "download",
        `Could not download the model file ${name}: the server answered ` +
          `${response.status} ${response.statusText}.`,
      );
    }
    const chunks: Uint8Array[] = [];
    let received = 0;
    this.setPresent(url, 0, true);
    try {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        received += value.byteLength;
        this.fetched += value.byteLength;
        this.setPresent(url, received, false);
      }
    } catch (error) {
      if (isAbort(error) || signal?.aborted) throw abortError();
      throw new WebsdError(
        "download",
        `The download of the model file ${name} broke off: ${(error as Error).message}. Retry.`,
      );
    }
    const bytes = new Uint8Array(received);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.byteLength;
    }
    this.setPresent(url, received, true);
    return bytes;
  }

  /** Only the listed files count: their sizes are known up front. */
  private setPresent(url: string, bytes: number, report: boolean): void {
    if (!this.files.has(url)) return;
    this.present.set(url, bytes);
    const now = performance.now();
    if (!report && now - this.lastReport < REPORT_INTERVAL_MS) return;
    this.lastReport = now;
    let loaded = 0;
    for (const value of this.present.values()) loaded += value;
    this.onProgress({ loaded, total: this.total, fetched: this.fetched });
  }
}

/**
 * Deletes every cached file under these URL prefixes (a model's folder and weights location),
 * whatever version of the model put it there. Returns how many entries went.
 */
export async function clearCachedFiles(prefixes: readonly string[]): Promise<number> {
  if (typeof caches === "undefined" || !(await caches.has(CACHE_NAME))) return 0;
  const cache = await caches.open(CACHE_NAME);
  let deleted = 0;
  for (const request of await cache.keys()) {
    if (prefixes.some((prefix) => request.url.startsWith(prefix))) {
      if (await cache.delete(request)) deleted++;
    }
  }
  return deleted;
}
