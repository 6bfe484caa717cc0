// Bundled by runtime_ts/build.mjs from runtime_ts/src: do not edit.

// src/bind_groups.ts
function reuseBindGroups(device) {
  const createBindGroup = device.createBindGroup.bind(device);
  const createBuffer = device.createBuffer.bind(device);
  const groups = /* @__PURE__ */ new Map();
  const groupsOf = /* @__PURE__ */ new Map();
  const ids = /* @__PURE__ */ new WeakMap();
  let counted = 0;
  const id = (object) => {
    let found = ids.get(object);
    if (found === void 0) {
      found = counted++;
      ids.set(object, found);
    }
    return found;
  };
  const forget = (buffer) => {
    for (const made of groupsOf.get(buffer) ?? []) {
      groups.delete(made.key);
      for (const other of made.buffers) {
        const bound = other === buffer ? void 0 : groupsOf.get(other);
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
    const buffers = [];
    let key = String(id(descriptor.layout));
    for (const { binding, resource } of descriptor.entries) {
      if (!("buffer" in resource)) return createBindGroup(descriptor);
      buffers.push(resource.buffer);
      key += `|${binding}:${id(resource.buffer)}:${resource.offset ?? 0}:${resource.size ?? ""}`;
    }
    let made = groups.get(key);
    if (made === void 0) {
      made = { key, group: createBindGroup(descriptor), buffers };
      groups.set(key, made);
      for (const buffer of buffers) {
        const bound = groupsOf.get(buffer);
        if (bound === void 0) groupsOf.set(buffer, /* @__PURE__ */ new Set([made]));
        else bound.add(made);
      }
    }
    return made.group;
  };
  return { held: () => ({ groups: groups.size, buffers: groupsOf.size }) };
}
export {
  reuseBindGroups
};
