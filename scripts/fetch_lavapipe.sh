#!/usr/bin/env bash
# Mesa's lavapipe, a Vulkan driver that runs on the CPU, from Debian's backports: unpacked into
# tests/.artifacts/lavapipe, not installed. Its Mesa 25 offers shader-f16, which Chromium's
# SwiftShader lacks, so tests run float16 builds on it through node's Dawn (npm webgpu).
# apt runs with its own source list, state and cache: the system's apt setup is untouched.
# The driver's libraries (LLVM, libdrm, ...) are Debian's mesa-vulkan-drivers dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
out=tests/.artifacts/lavapipe
[ -f "$out/lvp_icd.json" ] && exit 0

. /etc/os-release
suite="${VERSION_CODENAME}-backports"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb http://deb.debian.org/debian $suite main" >"$work/sources.list"
apt=(apt-get -qq -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=-
  -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Debug::NoLocking=1
  -o APT::Sandbox::User="$(id -un)")
echo "[setup] lavapipe from $suite"
"${apt[@]}" update
(cd "$work" && "${apt[@]}" download "mesa-vulkan-drivers/$suite")
dpkg-deb -x "$work"/mesa-vulkan-drivers_*.deb "$work/root"

mkdir -p "$out.partial"
cp "$work"/root/usr/lib/*/libvulkan_lvp.so "$out.partial/"
# The loader resolves a relative library_path from the manifest's folder.
sed 's#"library_path": "[^"]*"#"library_path": "./libvulkan_lvp.so"#' \
  "$work/root/usr/share/vulkan/icd.d/lvp_icd.json" >"$out.partial/lvp_icd.json"
rm -rf "$out"
mv "$out.partial" "$out"
