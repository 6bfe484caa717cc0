// Bundles the runtime into the site's static assets: websd.js (the page's module: API and
// <websd-playground>), websd-worker.js (the pipeline's worker, which holds tvmjs and the
// tokenizer's wasm) and websd.css; and, for the GPU benchmark (plain JavaScript, run by node on
// a GPU machine), the device setup a model does, as benchmarks/gpu/websd-device.mjs.
// Deterministic (no timestamps, fixed esbuild version from the lockfile, paths relative to this
// folder), so CI can rebuild and `git diff --exit-code` both to check that they are fresh.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));

const common = {
  absWorkingDir: here,
  outdir: "../site/assets/websd",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022", "chrome113", "firefox141", "safari26"],
  charset: "utf8",
  logLevel: "warning",
};

await build({
  ...common,
  entryPoints: [
    { in: "src/index.ts", out: "websd" },
    { in: "src/playground.css", out: "websd" },
  ],
  minify: true,
  sourcemap: "linked",
  sourcesContent: true,
  legalComments: "linked",
});

// The worker is mostly the tokenizer's wasm as base64 (4.7 MB): a source map would repeat it.
// It stays unminified instead, readable in the browser's debugger as it is.
await build({
  ...common,
  entryPoints: [{ in: "src/worker.ts", out: "websd-worker" }],
  // tvmjs and the tokenizer also run under Node, behind runtime checks; never in a browser.
  external: ["crypto", "fs", "module", "path", "perf_hooks", "url", "ws"],
  legalComments: "inline",
});

await build({
  ...common,
  entryPoints: [{ in: "src/device.ts", out: "websd-device" }],
  outdir: "../benchmarks/gpu",
  outExtension: { ".js": ".mjs" },
  banner: { js: "// Bundled by runtime_ts/build.mjs from runtime_ts/src: do not edit." },
});
