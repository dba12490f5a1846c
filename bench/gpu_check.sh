#!/usr/bin/env bash
# bench/gpu_check.sh — the whole CUDA check in one run on a fresh GPU machine (about 5 minutes on an
# H100/H200 with 16 cores): build with CUDA for this card, run every test (CUDA ones included), the
# kernel benchmarks against cuBLAS, and an end-to-end run of the full-size model (random weights from
# `tinyllava synth`), then print one short table. Results and logs go to $OUT (or ./gpu-check-out).
#
# A bare machine lacks stb_image, GoogleTest and Google Benchmark: run bench/gpu_deps.sh where they are
# installed and bring .gpu-deps along (the script uses it when present).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check-out}
BUILD=${BUILD:-build-gpu}
JOBS=$(nproc)
mkdir -p "$OUT"
log() { echo "== $*" | tee -a "$OUT/summary.txt"; }

nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader | tee "$OUT/gpu.txt"
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')
prefix=""
[ -d .gpu-deps/usr ] && prefix="-DCMAKE_PREFIX_PATH=$PWD/.gpu-deps/usr" && export LD_LIBRARY_PATH="$PWD/.gpu-deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
log "configure + build (sm_$cap, $JOBS jobs)"
t0=$(date +%s)
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTINYLLAVA_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$cap" $prefix \
  > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build "$BUILD" -j "$JOBS" > "$OUT/build.log" 2>&1 || { grep -E "error" -A3 "$OUT/build.log" | head -60; exit 1; }
log "built in $(( $(date +%s) - t0 )) s"

log "tests (all labels)"
ctest --test-dir "$BUILD" -j "$JOBS" --output-on-failure > "$OUT/ctest.log" 2>&1
tail -4 "$OUT/ctest.log" | tee -a "$OUT/summary.txt"
grep -E "^\[ cuda" -r "$BUILD/Testing" "$OUT/ctest.log" 2>/dev/null | head -12
"$BUILD/tests/test_cuda_model" 2>&1 | grep -E "^\[ cuda|FAILED|PASSED" | tee -a "$OUT/summary.txt"

log "kernel benchmarks (vs cuBLAS / naive)"
for b in bench_cuda_gemm bench_cuda_attention; do
  [ -x "$BUILD/bench/$b" ] || { echo "$b not built"; continue; }
  timeout 120 "$BUILD/bench/$b" --benchmark_min_time=0.05s --benchmark_counters_tabular=true > "$OUT/$b.txt" 2>&1
  cat "$OUT/$b.txt"
done

log "roofline on the GPU (its ceilings, every kernel at the full model's shapes)"
timeout 120 "$BUILD/tinyllava" roofline --device cuda -o "$OUT/roofline_cuda.svg" > "$OUT/roofline_cuda.txt" 2>&1
cat "$OUT/roofline_cuda.txt"

log "PyTorch baselines (SDPA, cuBLAS via torch.matmul)"
timeout 120 python3 tools/bench_torch_cuda.py > "$OUT/torch_cuda.txt" 2>&1; cat "$OUT/torch_cuda.txt"

log "end to end, full-size synthetic model"
M=/tmp/tinyllava-full
[ -f "$M/model.safetensors" ] || "$BUILD/tinyllava" synth --config full -o "$M" > "$OUT/synth.log" 2>&1
timeout 120 "$BUILD/tinyllava" bench -m "$M" --device cuda -n 128 --no-cuda-graph > "$OUT/e2e_cuda_nograph.txt" 2>&1
grep -E "decode|first token" "$OUT/e2e_cuda_nograph.txt" | sed 's/^/no graph: /'
for d in cuda cpu; do
  timeout 240 "$BUILD/tinyllava" bench -m "$M" --device "$d" -n 128 --json $([ "$d" = cuda ] && echo --compare-f32) \
    > "$OUT/e2e_$d.txt" 2>&1
  cat "$OUT/e2e_$d.txt"
done

log "table"
field() { tail -1 "$OUT/e2e_$1.txt" | sed -n "s/.*\"$2\": \"\{0,1\}\([^,\"}]*\).*/\1/p"; }
printf "%-6s %10s %10s %12s %10s %12s %10s\n" device vision_ms prefill_ms prefill_tok_s ttft_ms decode_tok_s logit_err | tee -a "$OUT/summary.txt"
for d in cuda cpu; do
  p=$(field $d prefill_ms); n=$(field $d prefill_tokens)
  printf "%-6s %10s %10s %12s %10s %12s %10s\n" $d "$(field $d vision_ms)" "$p" \
    "$(awk -v n="$n" -v p="$p" 'BEGIN{ if (p > 0) printf "%.0f", n * 1000 / p }')" "$(field $d ttft_ms)" \
    "$(field $d decode_tok_s)" "$(field $d logit_error_vs_f32)" | tee -a "$OUT/summary.txt"
done
