#!/usr/bin/env bash
# bench/gpu_deps.sh — packs the build dependencies a bare GPU machine lacks (stb_image, GoogleTest,
# Google Benchmark: headers, static/shared libraries and their CMake packages) from this Debian
# machine into .gpu-deps/ (git-ignored), laid out as a prefix that bench/gpu_check.sh passes to CMake.
# Run it here, then carry .gpu-deps to the GPU machine with the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
src=/usr
arch=x86_64-linux-gnu
dst=.gpu-deps/usr
rm -rf .gpu-deps
mkdir -p "$dst/include" "$dst/lib/$arch/cmake"
for d in stb gtest gmock benchmark; do
  [ -d "$src/include/$d" ] || { echo "gpu_deps: $src/include/$d missing (apt-get install libstb-dev libgtest-dev libbenchmark-dev)"; exit 1; }
  cp -r "$src/include/$d" "$dst/include/"
done
cp -a "$src/lib/$arch"/libgtest*.a "$src/lib/$arch"/libgmock*.a "$src/lib/$arch"/libbenchmark* "$dst/lib/$arch/"
cp -r "$src/lib/$arch/cmake/GTest" "$src/lib/$arch/cmake/benchmark" "$dst/lib/$arch/cmake/"
du -sh .gpu-deps
