/**
 * Recorded kernels sent to the GPU in batches. The compiled library calls `websd.submit` after
 * every few dozen kernels and at the end of each function (compiler/passes/submit_in_batches.py).
 * tvmjs records kernels into one command encoder that it submits only at a sync or a readback;
 * submitting at these points lets the GPU run each batch while the next is recorded. tvmjs keeps
 * its WebGPU context private, so its own submit (`flushCommands`) is looked up, and its absence
 * reported, here.
 */

import type { Instance } from "@mlc-ai/web-runtime";

export function registerSubmit(tvm: Instance): void {
  type Context = { flushCommands?: () => void };
  const context = (tvm as unknown as { lib: { webGPUContext?: Context } }).lib.webGPUContext;
  const flush = context?.flushCommands;
  if (context === undefined || flush === undefined) {
    throw new Error("tvmjs has no WebGPU context with flushCommands: use the tvmjs websd ships");
  }
  tvm.registerFunc("websd.submit", () => flush.call(context));
}
