// Bundles TypeScript entry points for node, which (v20) cannot run TypeScript itself, and for
// the test pages of tests/webgpu_kernels.py.
import { build } from "esbuild";

/** Each entry point as one ES module in `outdir` (`name.mjs`). */
export async function bundleForNode(entryPoints, outdir) {
  await build({
    entryPoints,
    outdir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    sourcemap: "inline",
    // tvmjs requires `ws` for its RPC client only, which the runtime never starts.
    external: ["ws"],
    // @mlc-ai/web-tokenizers and tvmjs are UMD and emscripten bundles whose Node paths call
    // require and read __filename and __dirname, which ES modules lack.
    banner: {
      js:
        'import { createRequire as __createRequire } from "node:module";' +
        'import { fileURLToPath as __fileURLToPath } from "node:url";' +
        "const require = __createRequire(import.meta.url);" +
        "const __filename = __fileURLToPath(import.meta.url);" +
        'const __dirname = __fileURLToPath(new URL(".", import.meta.url));',
    },
    logLevel: "warning",
  });
}

/** Each entry point as one ES module in `outdir` (`name.js`), for a page to import. */
export async function bundleForPage(entryPoints, outdir) {
  await build({
    entryPoints,
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    logLevel: "warning",
  });
}
