// `npm test`: node v20 cannot run TypeScript, so each test/*.test.ts is bundled by esbuild into a
// temporary folder and run there by node's built-in test runner.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const tests = readdirSync(here).filter((f) => f.endsWith(".test.ts"));
const out = mkdtempSync(join(tmpdir(), "websd-ts-test-"));
try {
  await build({
    entryPoints: tests.map((f) => join(here, f)),
    outdir: out,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    sourcemap: "inline",
    // @mlc-ai/web-tokenizers is a UMD bundle whose Node path calls require and reads __filename,
    // which ES modules lack.
    banner: {
      js:
        'import { createRequire as __createRequire } from "node:module";' +
        'import { fileURLToPath as __fileURLToPath } from "node:url";' +
        "const require = __createRequire(import.meta.url);" +
        "const __filename = __fileURLToPath(import.meta.url);",
    },
    logLevel: "warning",
  });
  const files = readdirSync(out).map((f) => join(out, f));
  const run = spawnSync(process.execPath, ["--enable-source-maps", "--test", ...files], {
    stdio: "inherit",
  });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
