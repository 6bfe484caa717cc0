// Bundled by runtime_ts/build.mjs from runtime_ts/src: do not edit.

// src/bind_groups.ts
function reuseBindGroups(device) {
  const createBindGroup = device.createBindGroup.bind(device);
  const createBuffer = device.createBuffer.bind(device);
  const groups = /* @__PURE__ */ new Map();
  const groupsBinding = /* @__PURE__ */ new Map();
  const ids = /* @__PURE__ */ new WeakMap();
  let made = 0;
  const id = (object) => {
    let found = ids.get(object);
    if (found === void 0) {
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
    const buffers = [];
    let key = String(id(descriptor.layout));
    for (const { binding, resource } of descriptor.entries) {
      if (!("buffer" in resource)) return createBindGroup(descriptor);
      buffers.push(resource);
      key += `|${binding}:${id(resource.buffer)}:${resource.offset ?? 0}:${resource.size ?? ""}`;
    }
    let group = groups.get(key);
    if (group === void 0) {
      group = createBindGroup(descriptor);
      groups.set(key, group);
      for (const { buffer } of buffers) {
        const keys = groupsBinding.get(buffer);
        if (keys === void 0) groupsBinding.set(buffer, [key]);
        else keys.push(key);
      }
    }
    return group;
  };
}
export {
  reuseBindGroups
};
