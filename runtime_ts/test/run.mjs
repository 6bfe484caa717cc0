// `npm test`: each test/*.test.ts is bundled into a temporary folder and run there by node's
// built-in test runner.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleForNode } from "./bundle.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
const tests = readdirSync(here).filter((f) => f.endsWith(".test.ts"));
const out = mkdtempSync(join(tmpdir(), "websd-ts-test-"));
try {
  await bundleForNode(
    tests.map((f) => join(here, f)),
    out,
  );
  const files = readdirSync(out).map((f) => join(out, f));
  const run = spawnSync(process.execPath, ["--enable-source-maps", "--test", ...files], {
    stdio: "inherit",
  });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
