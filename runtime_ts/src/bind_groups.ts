/**
 * Bind groups made once and reused by every later launch of the same kernel on the same buffers.
 *
 * tvmjs makes a new bind group for every kernel it launches: the kernel's buffers and the uniform
 * holding its launch arguments. Dawn validates each one and, on Vulkan, has the driver write a
 * descriptor set for it, on the CPU, several hundred times per UNet call. Yet a denoising loop launches the same
 * kernels on the same buffers at every step: the VM's storage pool hands its buffers back call
 * after call, and tvmjs's uniforms are pooled by a launch's place in its command buffer. So the
 * device's `createBindGroup` returns the group it made before for the same layout and buffer
 * ranges, and destroying a buffer forgets the groups that bind it. A bind group is immutable and
 * may be used any number of times, so a reused group binds exactly what a new one would.
 */

/** What the device holds on to for reuse, for tests and diagnostics. */
export interface BindGroupReuse {
  held(): { groups: number; buffers: number };
}

interface Made {
  key: string;
  group: GPUBindGroup;
  buffers: GPUBuffer[];
}

/** Wraps `device.createBindGroup` and `createBuffer`; call before anything creates buffers. */
export function reuseBindGroups(device: GPUDevice): BindGroupReuse {
  const createBindGroup = device.createBindGroup.bind(device);
  const createBuffer = device.createBuffer.bind(device);
  const groups = new Map<string, Made>();
  /** The groups that bind each buffer, so that its destruction forgets them. */
  const groupsOf = new Map<GPUBuffer, Set<Made>>();
  const ids = new WeakMap<object, number>();
  let counted = 0;
  const id = (object: object): number => {
    let found = ids.get(object);
    if (found === undefined) {
      found = counted++;
      ids.set(object, found);
    }
    return found;
  };

  const forget = (buffer: GPUBuffer): void => {
    for (const made of groupsOf.get(buffer) ?? []) {
      groups.delete(made.key);
      for (const other of made.buffers) {
        const bound = other === buffer ? undefined : groupsOf.get(other);
        bound?.delete(made);
        if (bound?.size === 0) groupsOf.delete(other);
      }
    }
    groupsOf.delete(buffer);
  };

  device.createBuffer = (descriptor) => {
    const buffer = createBuffer(descriptor);
    const destroy = buffer.destroy.bind(buffer);
    buffer.destroy = () => {
      forget(buffer);
      destroy();
    };
    return buffer;
  };

  device.createBindGroup = (descriptor) => {
    const buffers: GPUBuffer[] = [];
    let key = String(id(descriptor.layout));
    for (const { binding, resource } of descriptor.entries) {
      // Only buffer ranges: textures and samplers are not what kernels bind.
      if (!("buffer" in resource)) return createBindGroup(descriptor);
      buffers.push(resource.buffer);
      key += `|${binding}:${id(resource.buffer)}:${resource.offset ?? 0}:${resource.size ?? ""}`;
    }
    let made = groups.get(key);
    if (made === undefined) {
      made = { key, group: createBindGroup(descriptor), buffers };
      groups.set(key, made);
      for (const buffer of buffers) {
        const bound = groupsOf.get(buffer);
        if (bound === undefined) groupsOf.set(buffer, new Set([made]));
        else bound.add(made);
      }
    }
    return made.group;
  };

  return { held: () => ({ groups: groups.size, buffers: groupsOf.size }) };
}
