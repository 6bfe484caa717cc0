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

// src/matrix_kernels.ts
var MATRIX_FEATURE = "chromium-experimental-subgroup-matrix";
function matrixUnsupported(adapter, config) {
  if (!adapter.features.has(MATRIX_FEATURE)) return `the adapter offers no ${MATRIX_FEATURE}`;
  if (!adapter.features.has("shader-f16")) return "the adapter offers no shader-f16";
  const info = adapter.info;
  const shape = `${config.m}×${config.n}×${config.k}`;
  const offered = (info.subgroupMatrixConfigs ?? []).some(
    (c) => c.M === config.m && c.N === config.n && c.K === config.k && c.componentType === "f16" && c.resultComponentType === "f32"
  );
  if (!offered) return `the adapter has no float16 → float32 subgroup matrices of ${shape}`;
  const { subgroupMinSize, subgroupMaxSize } = info;
  if (subgroupMinSize !== config.subgroup_size || subgroupMaxSize !== config.subgroup_size) {
    return `the kernels are written for subgroups of ${config.subgroup_size}, the adapter's are ${subgroupMinSize} to ${subgroupMaxSize}`;
  }
  return null;
}
function entryPoint(code) {
  return /@compute\b[^]*?\bfn\s+(\w+)\s*\(/.exec(code)?.[1];
}
function useMatrixKernels(device, kernels) {
  const createShaderModule = device.createShaderModule.bind(device);
  const swapped = [];
  device.createShaderModule = (descriptor) => {
    const name = entryPoint(descriptor.code);
    const code = name === void 0 ? void 0 : kernels.kernels[name];
    if (name === void 0 || code === void 0) return createShaderModule(descriptor);
    swapped.push(name);
    return createShaderModule({ ...descriptor, code });
  };
  return () => [...swapped];
}
export {
  MATRIX_FEATURE,
  matrixUnsupported,
  reuseBindGroups,
  useMatrixKernels
};
