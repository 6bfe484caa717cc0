// Bundles src/index.ts into the site's static assets. Deterministic (no timestamps, fixed
// esbuild version from the lockfile, paths relative to this folder), so CI can rebuild and
// `git diff --exit-code site/assets` to check that the committed bundle is fresh.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));

await build({
  absWorkingDir: here,
  entryPoints: ["src/index.ts"],
  outfile: "../site/assets/websd/websd.js",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: "linked",
  sourcesContent: true,
  legalComments: "linked",
  charset: "utf8",
  logLevel: "warning",
});
