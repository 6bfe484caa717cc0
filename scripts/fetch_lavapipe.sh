#!/usr/bin/env bash
# Mesa's lavapipe, a Vulkan driver that runs on the CPU, from Debian 13's backports (Mesa 26),
# unpacked into tests/.artifacts/lavapipe with every library it needs, its C library included:
# nothing is installed. It offers shader-f16, which Chromium's SwiftShader lacks, and
# subgroup matrices (VK_KHR_cooperative_matrix), which Debian 12's Mesa 25 lacks; tests run
# float16 builds and subgroup-matrix kernels on it through node's Dawn (npm webgpu).
# Its libraries need a newer C library than Debian 12's, so `lavapipe/node ARGS` runs node under
# the fetched dynamic loader, with lavapipe as the only Vulkan driver.
# apt runs with its own source list, state and cache: the system's apt setup is untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
out=tests/.artifacts/lavapipe
[ -x "$out/node" ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
: >"$work/status"
cat >"$work/sources.list" <<EOF
deb http://deb.debian.org/debian trixie main
deb http://deb.debian.org/debian trixie-backports main
EOF
# With an empty package status, apt downloads the driver's whole dependency closure.
apt=(apt-get -qq -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=-
  -o Dir::State::Lists="$work/lists" -o Dir::State::status="$work/status"
  -o Dir::Cache="$work/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User="$(id -un)")
echo "[setup] lavapipe from trixie-backports"
"${apt[@]}" update
"${apt[@]}" install --download-only --no-install-recommends -y mesa-vulkan-drivers/trixie-backports
rm -rf "$out.partial"
mkdir -p "$out.partial/root"
for deb in "$work"/cache/archives/*.deb; do dpkg-deb -x "$deb" "$out.partial/root"; done

# The loader resolves a relative library_path from the manifest's folder.
lib=$(cd "$out.partial/root" && echo usr/lib/*-linux-gnu)
sed "s#\"library_path\": \"[^\"]*\"#\"library_path\": \"./root/$lib/libvulkan_lvp.so\"#" \
  "$out.partial/root/usr/share/vulkan/icd.d/lvp_icd.json" >"$out.partial/lvp_icd.json"
cat >"$out.partial/node" <<EOF
#!/usr/bin/env bash
# node (the one on PATH) with lavapipe's C library and Vulkan loader, and lavapipe as the only
# Vulkan driver: written by scripts/fetch_lavapipe.sh.
set -euo pipefail
here=\$(dirname "\$(readlink -f "\$0")")
lib=\$here/root/$lib
program=\$(command -v node)
export VK_ICD_FILENAMES=\$here/lvp_icd.json XDG_RUNTIME_DIR=\${XDG_RUNTIME_DIR:-/tmp}
exec "\$lib/ld-linux-x86-64.so.2" --library-path "\$lib" "\$program" "\$@"
EOF
chmod +x "$out.partial/node"
rm -rf "$out"
mv "$out.partial" "$out"
