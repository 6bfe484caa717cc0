import assert from "node:assert/strict";
import { test } from "node:test";
import fixture from "../../tests/fixtures/websd-model.json";
import {
  artifactUrls,
  checkedFiles,
  type MatrixConfig,
  type MatrixKernelsRef,
  parseManifest,
} from "../src/manifest";
import {
  MATRIX_FEATURE,
  matrixKernelsError,
  matrixUnsupported,
  pickMatrixKernels,
  useMatrixKernels,
  withMatrixFeature,
} from "../src/matrix_kernels";

const NVIDIA: MatrixConfig = { m: 16, n: 16, k: 16, subgroup_size: 32 };
const APPLE: MatrixConfig = { m: 8, n: 8, k: 8, subgroup_size: 32 };

function kernelsRef(config: MatrixConfig): MatrixKernelsRef {
  const name = `matrix-${config.m}x${config.n}x${config.k}-s${config.subgroup_size}.json`;
  return { path: name, bytes: 10, sha256: "00", config, kernels: 3 };
}

/** An adapter as Dawn describes one: its features, subgroup sizes and matrix shapes. */
function adapter(
  features: string[],
  subgroups: [number, number],
  shapes: [number, number, number][],
): GPUAdapter {
  const subgroupMatrixConfigs = shapes.map(([M, N, K]) => ({
    M,
    N,
    K,
    componentType: "f16",
    resultComponentType: "f32",
  }));
  const [subgroupMinSize, subgroupMaxSize] = subgroups;
  const info = { subgroupMinSize, subgroupMaxSize, subgroupMatrixConfigs };
  return { features: new Set(features), info } as unknown as GPUAdapter;
}

const H100 = adapter(["shader-f16", MATRIX_FEATURE], [32, 32], [[16, 16, 16]]);

test("an adapter runs a set whose matrices and subgroup size it offers", () => {
  assert.equal(matrixUnsupported(H100, NVIDIA), null);
  assert.equal(
    matrixUnsupported(H100, APPLE),
    "the adapter has no float16 → float32 subgroup matrices of 8×8×8",
  );
});

test("without the feature, or with subgroups of other sizes, the library runs", () => {
  const safe = adapter(["shader-f16"], [32, 32], [[16, 16, 16]]);
  assert.equal(matrixUnsupported(safe, NVIDIA), `the adapter offers no ${MATRIX_FEATURE}`);
  const amd = adapter(["shader-f16", MATRIX_FEATURE], [32, 64], [[16, 16, 16]]);
  assert.equal(
    matrixUnsupported(amd, NVIDIA),
    "the kernels are written for subgroups of 32, the adapter's are 32 to 64",
  );
});

test("the first set the adapter runs is picked, and its feature requested", () => {
  const sets = [kernelsRef(APPLE), kernelsRef(NVIDIA)];
  const picked = pickMatrixKernels(H100, sets);
  assert.equal(picked, sets[1]);
  assert.equal(pickMatrixKernels(H100, [sets[0] as MatrixKernelsRef]), undefined);
  assert.equal(pickMatrixKernels(H100), undefined);
  const needs = { features: ["shader-f16"], limits: {} };
  assert.deepEqual(withMatrixFeature(needs, picked).features, ["shader-f16", MATRIX_FEATURE]);
  assert.equal(withMatrixFeature(needs, undefined), needs);
});

test("only the set in use is among the files the runtime fetches and checks", () => {
  const json = structuredClone(fixture) as Record<string, unknown>;
  const set = kernelsRef(NVIDIA);
  json.webgpu = { ...(json.webgpu as object), matrix_kernels: [set] };
  const manifest = parseManifest(json);
  assert.deepEqual(manifest.webgpu.matrix_kernels, [set]);
  const urls = artifactUrls(manifest, "https://example.org/m/websd-model.json");
  const paths = (uses?: MatrixKernelsRef) => checkedFiles(manifest, urls, uses).map((f) => f.url);
  assert.ok(!paths().some((url) => url.includes("matrix-")));
  assert.ok(paths(set).includes("https://example.org/m/matrix-16x16x16-s32.json"));
  json.webgpu = { ...(json.webgpu as object), matrix_kernels: [{ ...set, config: {} }] };
  assert.throws(() => parseManifest(json), /"webgpu\.matrix_kernels\[0\]\.config\.m"/);
});

test("a kernel of the set is created from its WGSL, every other from the library's", () => {
  const made: string[] = [];
  const device = {
    createShaderModule: (descriptor: GPUShaderModuleDescriptor) => {
      made.push(descriptor.code);
      return {} as GPUShaderModule;
    },
  } as unknown as GPUDevice;
  const swapped = useMatrixKernels(device, {
    config: NVIDIA,
    kernels: { gemm_kernel: "matrix WGSL" },
  });
  const library = (name: string) =>
    `enable f16;\n@compute @workgroup_size(256, 1, 1)\nfn ${name}(\n  @builtin(workgroup_id) b : vec3<u32>\n) {\n}\n`;
  device.createShaderModule({ code: library("gemm_kernel") });
  device.createShaderModule({ code: library("norm_kernel") });
  assert.deepEqual(made, ["matrix WGSL", library("norm_kernel")]);
  assert.deepEqual(swapped(), ["gemm_kernel"]);
});

test("a set whose WGSL the device rejects is named by its first rejected kernel", async () => {
  const scopes: (string | null)[] = [];
  const device = {
    pushErrorScope: () => scopes.push(null),
    createShaderModule: ({ code }: GPUShaderModuleDescriptor) => {
      if (code.includes("column_major")) scopes[scopes.length - 1] = "Unexpected template kind";
      return {} as GPUShaderModule;
    },
    popErrorScope: async () => {
      const message = scopes.pop();
      return message ? ({ message } as GPUError) : null;
    },
  } as unknown as GPUDevice;
  const set = (code: string) => ({ config: NVIDIA, kernels: { a_kernel: "ok", b_kernel: code } });
  assert.equal(await matrixKernelsError(device, set("col_major")), null);
  assert.equal(
    await matrixKernelsError(device, set("column_major")),
    "b_kernel: Unexpected template kind",
  );
});
