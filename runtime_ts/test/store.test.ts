import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { beforeEach, test } from "node:test";
import { WebsdError } from "../src/errors";
import { CACHE_NAME, clearCachedFiles, type DownloadProgress, ModelStore } from "../src/store";

/** The Cache API as the store uses it, in memory, with a byte quota. */
class FakeCache {
  readonly entries = new Map<string, Uint8Array>();
  quota = Infinity;

  async match(key: string): Promise<Response | undefined> {
    const bytes = this.entries.get(key);
    return bytes === undefined ? undefined : new Response(bytes.slice());
  }

  async put(key: string, response: Response): Promise<void> {
    const bytes = new Uint8Array(await response.arrayBuffer());
    const used = [...this.entries.values()].reduce((n, b) => n + b.length, 0);
    if (used + bytes.length > this.quota) throw new DOMException("full", "QuotaExceededError");
    this.entries.set(key, bytes);
  }

  async delete(key: string | Request): Promise<boolean> {
    return this.entries.delete(typeof key === "string" ? key : key.url);
  }

  async keys(): Promise<Request[]> {
    return [...this.entries.keys()].map((url) => new Request(url));
  }
}

let cache: FakeCache;
/** What the server sends for each URL, one body per request (the last one repeats). */
let served: Map<string, Uint8Array[]>;
let fetches: string[];

beforeEach(() => {
  cache = new FakeCache();
  served = new Map();
  fetches = [];
  Object.assign(globalThis, {
    caches: {
      open: async (name: string) => (assert.equal(name, CACHE_NAME), cache),
      has: async () => true,
    },
    fetch: async (url: string) => {
      fetches.push(url);
      const bodies = served.get(url);
      if (bodies === undefined)
        return new Response("missing", { status: 404, statusText: "Not Found" });
      const body = (bodies.length > 1 ? bodies.shift() : bodies[0]) as Uint8Array;
      return new Response(body.slice());
    },
  });
});

const URL_A = "https://example.test/m/params_shard_0.bin";
const URL_B = "https://example.test/m/params_shard_1.bin";
const INDEX = "https://example.test/m/tensor-cache.json";
const bytes = (n: number, seed: number) => new Uint8Array(n).map((_, i) => (i * 31 + seed) % 251);
const sha = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const A = bytes(300_000, 1);
const B = bytes(1000, 2);
const corrupt = (data: Uint8Array) => data.map((b, i) => (i === 7 ? b ^ 1 : b));

function store(onProgress?: (p: DownloadProgress) => void, version = "v1"): ModelStore {
  const files = [
    { url: URL_A, bytes: A.length, sha256: sha(A) },
    { url: URL_B, bytes: B.length, sha256: sha(B) },
  ];
  return new ModelStore(files, version, onProgress);
}

async function code(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => assert.fail("expected an error"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof WebsdError, String(error));
  return error.code;
}

test("files are downloaded once, checked, cached, and read from the cache after", async () => {
  served.set(URL_A, [A]).set(URL_B, [B]);
  const reports: DownloadProgress[] = [];
  const first = store((p) => reports.push(p));
  await first.addToCache(URL_A);
  await first.addToCache(URL_B);
  assert.deepEqual(await first.fetchWithCache(URL_A, "arraybuffer"), A.buffer);
  assert.deepEqual(fetches, [URL_A, URL_B]);
  assert.deepEqual(reports.at(-1), {
    loaded: A.length + B.length,
    total: A.length + B.length,
    fetched: A.length + B.length,
  });

  const second = store();
  assert.equal(await second.hasAllKeys([URL_A, URL_B]), true);
  assert.deepEqual(new Uint8Array(await second.bytes(URL_B)), B);
  assert.equal(fetches.length, 2);
});

test("a corrupt cached file is replaced by a fresh download", async () => {
  served.set(URL_A, [A]);
  cache.entries.set(URL_A, corrupt(A));
  assert.deepEqual(await store().bytes(URL_A), A);
  assert.deepEqual(fetches, [URL_A]);
  assert.deepEqual(cache.entries.get(URL_A), A);
});

test("a download that fails its check is tried once more", async () => {
  served.set(URL_A, [corrupt(A), A]);
  assert.deepEqual(await store().bytes(URL_A), A);
  assert.equal(fetches.length, 2);
});

test("a file corrupt on the server fails after one retry, naming the file", async () => {
  served.set(URL_A, [corrupt(A)]);
  const s = store();
  await assert.rejects(s.bytes(URL_A), /params_shard_0\.bin is corrupt/);
  assert.equal(fetches.length, 2);
  assert.equal(cache.entries.size, 0);
  served.set(URL_B, [corrupt(B)]);
  assert.equal(await code(s.addToCache(URL_B)), "integrity");
});

test("a full quota and a failed request get their own codes", async () => {
  served.set(URL_A, [A]);
  cache.quota = 1000;
  assert.equal(await code(store().bytes(URL_A)), "storage");
  assert.equal(await code(store().bytes(URL_B)), "download");
  await assert.rejects(store().bytes(URL_B), /params_shard_1\.bin: the server answered 404/);
});

test("files without a digest are cached per model version", async () => {
  served.set(INDEX, [new TextEncoder().encode('{"records": [1]}')]);
  assert.deepEqual(await store().fetchWithCache(INDEX, "json"), { records: [1] });
  assert.deepEqual(await store().fetchWithCache(INDEX, "json"), { records: [1] });
  assert.equal(fetches.length, 1);
  served.set(INDEX, [new TextEncoder().encode('{"records": [2]}')]);
  assert.deepEqual(await store(undefined, "v2").fetchWithCache(INDEX, "json"), { records: [2] });
  assert.equal(fetches.length, 2);
});

test("clearing removes a model's files, any version, and nothing else", async () => {
  cache.entries
    .set(URL_A, A)
    .set(`${INDEX}?websd-version=old`, B)
    .set("https://example.test/other/x", B);
  assert.equal(await clearCachedFiles(["https://example.test/m/"]), 2);
  assert.deepEqual([...cache.entries.keys()], ["https://example.test/other/x"]);
});
