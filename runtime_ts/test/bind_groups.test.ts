import assert from "node:assert/strict";
import { test } from "node:test";
import { reuseBindGroups } from "../src/bind_groups";

/** The device methods reuseBindGroups wraps, counting the bind groups really made. */
function device() {
  const made: GPUBindGroupDescriptor[] = [];
  const destroyed: number[] = [];
  let buffers = 0;
  const fake = {
    createBindGroup: (descriptor: GPUBindGroupDescriptor) => {
      made.push(descriptor);
      return { made: made.length } as unknown as GPUBindGroup;
    },
    createBuffer: () => {
      const n = buffers++;
      return { destroy: () => destroyed.push(n) } as unknown as GPUBuffer;
    },
  };
  const gpu = fake as unknown as GPUDevice;
  const reuse = reuseBindGroups(gpu);
  // The fake ignores the descriptor.
  const buffer = () => gpu.createBuffer({ size: 256, usage: 0 });
  return { gpu, made, destroyed, buffer, held: reuse.held };
}

const layout = (): GPUBindGroupLayout => ({}) as GPUBindGroupLayout;

function launch(layout: GPUBindGroupLayout, ...resources: GPUBufferBinding[]) {
  return { layout, entries: resources.map((resource, binding) => ({ binding, resource })) };
}

test("a launch on the same buffers reuses the group made for the first", () => {
  const { gpu, made, buffer } = device();
  const kernel = layout();
  const [a, b, args] = [buffer(), buffer(), buffer()];
  const first = gpu.createBindGroup(
    launch(kernel, { buffer: a }, { buffer: b }, { buffer: args, size: 8 }),
  );
  const again = gpu.createBindGroup(
    launch(kernel, { buffer: a }, { buffer: b }, { buffer: args, size: 8 }),
  );
  assert.equal(again, first);
  assert.equal(made.length, 1);
});

test("another layout, buffer, binding, offset or size makes a new group", () => {
  const { gpu, made, buffer } = device();
  const kernel = layout();
  const [a, b] = [buffer(), buffer()];
  const groups = new Set([
    gpu.createBindGroup(launch(kernel, { buffer: a }, { buffer: b })),
    gpu.createBindGroup(launch(layout(), { buffer: a }, { buffer: b })),
    gpu.createBindGroup(launch(kernel, { buffer: b }, { buffer: a })),
    gpu.createBindGroup(launch(kernel, { buffer: a }, { buffer: b, offset: 256 })),
    gpu.createBindGroup(launch(kernel, { buffer: a }, { buffer: b, size: 8 })),
    gpu.createBindGroup({ layout: kernel, entries: [{ binding: 1, resource: { buffer: a } }] }),
  ]);
  assert.equal(groups.size, 6);
  assert.equal(made.length, 6);
});

test("destroying a buffer forgets the groups that bind it, and destroys it", () => {
  const { gpu, made, destroyed, buffer, held } = device();
  const kernel = layout();
  const [a, b, c] = [buffer(), buffer(), buffer()];
  const withA = gpu.createBindGroup(launch(kernel, { buffer: a }, { buffer: c }));
  const withoutA = gpu.createBindGroup(launch(kernel, { buffer: b }, { buffer: c }));
  assert.deepEqual(held(), { groups: 2, buffers: 3 });
  a.destroy();
  assert.deepEqual(destroyed, [0]);
  assert.deepEqual(held(), { groups: 1, buffers: 2 });
  assert.equal(gpu.createBindGroup(launch(kernel, { buffer: b }, { buffer: c })), withoutA);
  assert.notEqual(gpu.createBindGroup(launch(kernel, { buffer: a }, { buffer: c })), withA);
  assert.equal(made.length, 3);
});

test("a buffer that outlives the others holds none of their forgotten groups", () => {
  // Weights stay while each generation's activations come and go.
  const { gpu, buffer, held } = device();
  const weight = buffer();
  for (let generation = 0; generation < 3; generation++) {
    const activations = [buffer(), buffer()];
    for (const activation of activations) {
      gpu.createBindGroup(launch(layout(), { buffer: weight }, { buffer: activation }));
      gpu.createBindGroup(launch(layout(), { buffer: activation }, { buffer: activation }));
    }
    assert.deepEqual(held(), { groups: 4, buffers: 3 });
    for (const activation of activations) activation.destroy();
    assert.deepEqual(held(), { groups: 0, buffers: 0 });
  }
});

test("groups binding anything but buffer ranges are made every time", () => {
  const { gpu, made } = device();
  const sampler = {} as GPUSampler;
  const descriptor = { layout: layout(), entries: [{ binding: 0, resource: sampler }] };
  assert.notEqual(gpu.createBindGroup(descriptor), gpu.createBindGroup(descriptor));
  assert.equal(made.length, 2);
});
