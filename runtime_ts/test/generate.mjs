// Bundles test/generate.ts and runs it with this script's arguments (see generate.ts).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleForNode } from "./bundle.mjs";

const out = mkdtempSync(join(tmpdir(), "websd-generate-"));
try {
  await bundleForNode([fileURLToPath(new URL("generate.ts", import.meta.url))], out);
  const args = ["--enable-source-maps", join(out, "generate.mjs"), ...process.argv.slice(2)];
  const run = spawnSync(process.execPath, args, { stdio: "inherit" });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
