#!/usr/bin/env bash
# Run benchmarks/gpu.py on the lent GPU machine, from what benchmarks/gpu_pack.sh put in .device/
# (node, dawn.node, tvmjs, the diffusers wheel, the model libraries) and .gl/ (Vulkan loader).
# The report goes to $OUT/gpu-report.txt and .json; the whole output to $OUT/gpu-log.txt.
#
#   bash benchmarks/gpu_device.sh [gpu.py options] [more library folders]
#
# runs every library folder in $MODELS (.device/models), then the ones given, e.g.
# .device/models-baseline/sd15-float32.
#
# By default every stage ends within 400 s (--deadline-s) and each function gets at most 30 s of
# timed calls (--budget-s): with setup, the run fits in 8 minutes. Options given here win.
#
# With no NVIDIA driver it runs on SwiftShader (Debian's chromium) instead: a CPU check of the
# same flow, for tiny models (MODELS=folder of gpu_build.py tiny-sd1 output).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
MODELS=${MODELS:-.device/models}
NVIDIA_ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
exec > >(tee "$OUT/gpu-log.txt") 2>&1

if [ -e "$NVIDIA_ICD" ]; then
  # The image has no Vulkan loader nor glvnd: the device tool's README's .debs, into /.
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  export LD_LIBRARY_PATH=/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export VK_ICD_FILENAMES=$NVIDIA_ICD
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
else
  echo "[gpu_device] no NVIDIA driver: WebGPU on SwiftShader (CPU)"
  export LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json
fi

unxz() { python3 -c 'import lzma, sys; open(sys.argv[2], "wb").write(lzma.decompress(open(sys.argv[1], "rb").read()))' "$1" "$2"; }
unxz .device/node.xz "$work/node"
chmod +x "$work/node"
mkdir -p "$work/webgpu/dist/linux-x64"
cp .device/webgpu/index.js .device/webgpu/package.json "$work/webgpu/"
unxz .device/webgpu/dist/linux-x64/dawn.node.xz "$work/webgpu/dist/linux-x64/dawn.node"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$work/site" .device/wheels/*.whl
export PYTHONPATH="$work/site" PYTHONUNBUFFERED=1
echo "[gpu_device] node $("$work/node" --version), $(python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())')"

python3 benchmarks/gpu.py "$MODELS"/*/ --node "$work/node" --webgpu "$work/webgpu" \
  --tvmjs .device/tvmjs/index.js --out "$OUT" --deadline-s 400 --budget-s 30 "$@"
