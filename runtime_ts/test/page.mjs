// Bundles test/NAME.ts as an ES module for a page, OUTDIR/NAME.js:
//   node test/page.mjs NAME OUTDIR
import { fileURLToPath } from "node:url";
import { bundleForPage } from "./bundle.mjs";

const [name, outdir] = process.argv.slice(2);
if (name === undefined || outdir === undefined) {
  throw new Error("usage: node test/page.mjs NAME OUTDIR");
}
await bundleForPage([fileURLToPath(new URL(`${name}.ts`, import.meta.url))], outdir);
