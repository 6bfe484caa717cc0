// Bundles test/NAME.ts for node and runs it with the remaining arguments:
//   node test/node.mjs NAME ARGS...
// (node 20 cannot run TypeScript itself). Each tool's usage is at the top of its file.
// The tool runs in this node, or in the one that $WEBSD_NODE names (tests/node_webgpu.py names
// the one that runs on lavapipe).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundleForNode } from "./bundle.mjs";

const [name, ...args] = process.argv.slice(2);
if (name === undefined) throw new Error("usage: node test/node.mjs NAME ARGS...");
const out = mkdtempSync(join(tmpdir(), `websd-${name}-`));
try {
  await bundleForNode([fileURLToPath(new URL(`${name}.ts`, import.meta.url))], out);
  const run = spawnSync(
    process.env.WEBSD_NODE ?? process.execPath,
    ["--enable-source-maps", join(out, `${name}.mjs`), ...args],
    { stdio: "inherit" },
  );
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
