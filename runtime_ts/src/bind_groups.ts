/**
 * Bind groups made once and reused by every later launch of the same kernel on the same buffers.
 *
 * tvmjs makes a new bind group for every kernel it launches: the kernel's buffers and the uniform
 * holding its launch arguments. Making one is about half of what recording a launch costs the CPU
 * in Dawn (`benchmarks/gpu.py`, `encode ms`), several hundred times per UNet call. Yet a
 * denoising loop launches the same kernels on the same buffers at every step: the VM's storage
 * pool hands its buffers back call after call, and tvmjs's uniforms are pooled by a launch's
 * place in its command buffer. So the device's `createBindGroup` returns the group it made
 * before for the same layout and buffer ranges, and destroying a buffer forgets the groups that
 * bind it. A bind group is immutable and may be used any number of times, so a reused group binds
 * exactly what a new one would.
 */

/** Wraps `device.createBindGroup` and `createBuffer`; call before anything creates buffers. */
export function reuseBindGroups(device: GPUDevice): void {
  const createBindGroup = device.createBindGroup.bind(device);
  const createBuffer = device.createBuffer.bind(device);
  const groups = new Map<string, GPUBindGroup>();
  /** The keys of the groups that bind each buffer, forgotten when it is destroyed. */
  const groupsBinding = new Map<GPUBuffer, string[]>();
  const ids = new WeakMap<object, number>();
  let made = 0;
  const id = (object: object): number => {
    let found = ids.get(object);
    if (found === undefined) {
      found = made++;
      ids.set(object, found);
    }
    return found;
  };

  device.createBuffer = (descriptor) => {
    const buffer = createBuffer(descriptor);
    const destroy = buffer.destroy.bind(buffer);
    buffer.destroy = () => {
      for (const key of groupsBinding.get(buffer) ?? []) groups.delete(key);
      groupsBinding.delete(buffer);
      destroy();
    };
    return buffer;
  };

  device.createBindGroup = (descriptor) => {
    const buffers: GPUBufferBinding[] = [];
    let key = String(id(descriptor.layout));
    for (const { binding, resource } of descriptor.entries) {
      // Only buffer ranges: textures and samplers are not what kernels bind.
      if (!("buffer" in resource)) return createBindGroup(descriptor);
      buffers.push(resource);
      key += `|${binding}:${id(resource.buffer)}:${resource.offset ?? 0}:${resource.size ?? ""}`;
    }
    let group = groups.get(key);
    if (group === undefined) {
      group = createBindGroup(descriptor);
      groups.set(key, group);
      for (const { buffer } of buffers) {
        const keys = groupsBinding.get(buffer);
        if (keys === undefined) groupsBinding.set(buffer, [key]);
        else keys.push(key);
      }
    }
    return group;
  };
}
