#!/usr/bin/env bash
# tools/cuda_emu/run.sh — re-checks kernels/cuda/gemm.cu, attention.cu and ops_cuda.cu on a machine
# without a GPU: transforms the current .cu files, builds them with g++ against the CPU emulator, and
# runs the three suites against kernels/ref. Exits non-zero if the transformation, the build or any
# check fails. See tools/cuda_emu/README.md.
#
#   tools/cuda_emu/run.sh [suite options]     e.g. --verbose, --schedule=reverse:lazy
#
# Environment: BUILD (default build-emu/, git-ignored), JOBS (default: the number of CPUs), CXX.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
build="${BUILD:-build-emu}"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
emu=tools/cuda_emu
mkdir -p "$build"

start=$SECONDS

# 1. Emulatable copies of the current kernels (the inline-PTX helpers gemm.cu is expected to have).
python3 "$emu/transform.py" kernels/cuda/gemm.cu "$build/gemm_emu.cpp" \
  --ptx-helpers smem_addr,cp_async_16,cp_async_commit,cp_async_wait,ldmatrix_x4,mma_16816
python3 "$emu/transform.py" kernels/cuda/attention.cu "$build/attention_emu.cpp"
python3 "$emu/transform.py" kernels/cuda/ops_cuda.cu "$build/ops_cuda_emu.cpp"

# 2. Build (incremental: make recompiles what changed).
make --no-print-directory -s -f "$emu/Makefile" BUILD="$build" -j "$jobs"
echo "cuda_emu: built in $((SECONDS - start)) s"

# 3. The suites, each under both schedules; a failing suite does not stop the others.
status=0
"$build/emu_gemm" "$@" || status=1
"$build/emu_attention" "$@" || status=1
"$build/emu_ops" "$@" || status=1

echo "cuda_emu: $([ $status -eq 0 ] && echo PASS || echo FAIL) in $((SECONDS - start)) s"
exit $status
