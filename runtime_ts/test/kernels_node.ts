/**
 * The kernel harness (kernels.ts) in node, on npm `webgpu`: where tests/webgpu_kernels.py runs
 * float16 kernels, on an adapter with shader-f16.
 *
 *   node test/node.mjs kernels_node --webgpu DIR --run JSON --out REPORT
 *
 * DIR is the installed `webgpu` package; JSON a file holding a KernelRun (its base URL served
 * over http); REPORT the file the KernelReport is written to.
 */

import * as tvmjs from "@mlc-ai/web-runtime";
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { runKernels, type KernelRun } from "./kernels";
import { installWebgpu } from "./node_webgpu";

const { values: args } = parseArgs({
  options: { webgpu: { type: "string" }, run: { type: "string" }, out: { type: "string" } },
});
if (args.webgpu === undefined || args.run === undefined || args.out === undefined) {
  throw new Error("usage: node.mjs kernels_node --webgpu DIR --run JSON --out REPORT");
}
const run = JSON.parse(readFileSync(args.run, "utf8")) as KernelRun;
// Dawn lists subgroup matrices only to an instance that allows unsafe APIs, as Chrome does with
// --enable-unsafe-webgpu.
installWebgpu(args.webgpu, run.matrix === undefined ? [] : ["allow_unsafe_apis"]);
writeFileSync(args.out, JSON.stringify(await runKernels(tvmjs, run)));
