/**
 * GPU time of every compute pass, named by the kernel it ran, with no change to tvmjs.
 *
 * tvmjs records each kernel launch as one compute pass (one dispatch) in a shared command
 * encoder. Wrapping three WebGPU methods on their prototypes is enough to time them:
 * - createComputePipeline(Async) remembers each pipeline's entry point: TVM's kernel name;
 * - beginComputePass, while recording, adds a timestamp pair to the pass;
 * - setPipeline ties the pass to its pipeline's kernel name.
 * Timestamps are only meaningful with Dawn's quantization off
 * (`disable-dawn-features=timestamp_quantization`).
 */

/** WebGPU caps a query set at 4096 queries: 2048 passes, a begin and an end each. */
const PASSES_PER_SET = 2048;

export class PassProfiler {
  /** @param {Record<string, any>} globals the WebGPU classes of npm `webgpu` */
  constructor(globals) {
    /** @type {GPUDevice | undefined} */
    this.device = undefined;
    /** @type {GPUQuerySet[]} */
    this.sets = [];
    /** @type {string[]} kernel name of each recorded pass */
    this.names = [];
    const pipelineNames = new WeakMap();
    const passIndex = new WeakMap();
    const device = globals.GPUDevice.prototype;
    const createPipeline = device.createComputePipeline;
    device.createComputePipeline = function (descriptor) {
      const pipeline = createPipeline.call(this, descriptor);
      pipelineNames.set(pipeline, descriptor.compute.entryPoint);
      return pipeline;
    };
    const createPipelineAsync = device.createComputePipelineAsync;
    device.createComputePipelineAsync = async function (descriptor) {
      const pipeline = await createPipelineAsync.call(this, descriptor);
      pipelineNames.set(pipeline, descriptor.compute.entryPoint);
      return pipeline;
    };
    const profiler = this;
    const encoder = globals.GPUCommandEncoder.prototype;
    const beginComputePass = encoder.beginComputePass;
    encoder.beginComputePass = function (descriptor = {}) {
      if (profiler.device === undefined) return beginComputePass.call(this, descriptor);
      const index = profiler.names.length;
      profiler.names.push("(no pipeline)");
      const slot = index % PASSES_PER_SET;
      if (slot === 0) {
        profiler.sets.push(
          profiler.device.createQuerySet({ type: "timestamp", count: 2 * PASSES_PER_SET }),
        );
      }
      const timestampWrites = {
        querySet: profiler.sets[profiler.sets.length - 1],
        beginningOfPassWriteIndex: 2 * slot,
        endOfPassWriteIndex: 2 * slot + 1,
      };
      const pass = beginComputePass.call(this, { ...descriptor, timestampWrites });
      passIndex.set(pass, index);
      return pass;
    };
    const pass = globals.GPUComputePassEncoder.prototype;
    const setPipeline = pass.setPipeline;
    pass.setPipeline = function (pipeline) {
      const index = passIndex.get(this);
      if (index !== undefined) profiler.names[index] = pipelineNames.get(pipeline) ?? "(unnamed)";
      return setPipeline.call(this, pipeline);
    };
  }

  /** Times every compute pass encoded on `device` from now until `stop()`. */
  start(device) {
    this.device = device;
    this.sets = [];
    this.names = [];
  }

  /**
   * Call once the recorded work was submitted and has finished (tvmjs: `await dev.sync()`).
   * @returns {Promise<{name: string, begin: bigint, end: bigint}[]>} each pass, in order
   */
  async stop() {
    const device = this.device;
    if (device === undefined) throw new Error("the profiler was not started");
    this.device = undefined;
    const readbacks = this.sets.map((set, i) => {
      const queries = 2 * Math.min(PASSES_PER_SET, this.names.length - i * PASSES_PER_SET);
      const size = queries * 8;
      const resolve = device.createBuffer({
        size,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      const read = device.createBuffer({
        size,
        usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ,
      });
      const encoder = device.createCommandEncoder();
      encoder.resolveQuerySet(set, 0, queries, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, read, 0, size);
      device.queue.submit([encoder.finish()]);
      return { set, resolve, read };
    });
    const stamps = [];
    for (const { set, resolve, read } of readbacks) {
      await read.mapAsync(GPUMapMode.READ);
      stamps.push(...new BigUint64Array(read.getMappedRange()));
      read.unmap();
      for (const resource of [set, resolve, read]) resource.destroy();
    }
    return this.names.map((name, i) => ({ name, begin: stamps[2 * i], end: stamps[2 * i + 1] }));
  }
}
