// bench/bench_cuda_gemm.cpp — the CUDA GEMM ladder (kernels/cuda/gemm.cu) at the real model's shapes,
// with cuBLAS on the same shapes in the same run as the baseline.
//
// Timing: CUDA events around each call on the engine's stream (manual time), after one warm-up call.
// Rates: TFLOP/s (2·T·N·K per call); for decode (T <= kGemvMaxRows) also GB/s of weights, x and y moved.
// vs_cublas = cuBLAS time / this rung's time on the same shape and dtype (> 1: faster than cuBLAS); the
// cuBLAS case of a shape is registered, and so runs, before the rungs of that shape.
// The baseline is cublasGemmEx with f16/bf16 x and w (x converted once, outside the timing), F32 output
// and CUBLAS_COMPUTE_32F, no bias or epilogue; our TensorCore and Auto rungs include their conversion of
// x to f16/bf16 in the time. For patch embedding the baseline is cuBLAS on an im2col matrix built on the
// host beforehand: the same GEMM without the gather.
//
//   ./build/bench/bench_cuda_gemm --benchmark_counters_tabular=true
//
// Link: tinyllava_core, benchmark, CUDA::cudart and CUDA::cublas.
#include <benchmark/benchmark.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_ops.h"
#include "tensor/buffer.h"
#include "tensor/error.h"

namespace tl::cuda {
cudaStream_t stream();  // declared in kernels/cuda/common.cuh, a header for CUDA sources only
}

using namespace tl;
using tl::cuda::GemmAlgo;

namespace {

enum Rung : int64_t { kCublas, kNaive, kTiled, kTensorCore, kGemv };
const char* const kRungNames[] = {"cuBLAS", "Naive", "Tiled", "TensorCore", "Gemv"};
constexpr GemmAlgo kRungAlgo[] = {GemmAlgo::Auto, GemmAlgo::Naive, GemmAlgo::Tiled, GemmAlgo::TensorCore, GemmAlgo::Gemv};

DType dtype_arg(int64_t a) { return a == 1 ? DType::F16 : DType::BF16; }

// Device bytes, freed when the object dies.
struct DeviceArray {
  void* p = nullptr;
  explicit DeviceArray(size_t bytes) {
    if (cudaMalloc(&p, bytes) != cudaSuccess) p = nullptr;
  }
  ~DeviceArray() { cudaFree(p); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
};

// n random values stored as dt on the device (into `dst`, n · dtype_size(dt) bytes).
bool upload_random(void* dst, DType dt, size_t n, float scale, unsigned seed) {
  std::vector<float> f(n);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  for (float& v : f) v = nd(rng);
  std::vector<uint8_t> bytes(n * dtype_size(dt));
  convert_from_f32(f.data(), bytes.data(), dt, n);
  return cudaMemcpy(dst, bytes.data(), bytes.size(), cudaMemcpyHostToDevice) == cudaSuccess;
}

cublasHandle_t cublas() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return static_cast<cublasHandle_t>(nullptr);
    cublasSetStream(h, cuda::stream());
    return h;
  }();
  return handle;
}

// y[T, N] = x16[T, K] · w[N, K]ᵀ in cuBLAS's column-major terms: yᵀ (N × T, ld N) = op(w) · x16ᵀ, with
// w read as a K × N column-major matrix (ld K) and transposed, x16 as K × T (ld K).
bool cublas_gemm(const void* x16, const void* w, DType dt, float* y, int64_t T, int64_t K, int64_t N) {
  const float alpha = 1.0f, beta = 0.0f;
  const cudaDataType_t type = dt == DType::F16 ? CUDA_R_16F : CUDA_R_16BF;
  return cublasGemmEx(cublas(), CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(N), static_cast<int>(T), static_cast<int>(K),
                      &alpha, w, type, static_cast<int>(K), x16, type, static_cast<int>(K), &beta, y, CUDA_R_32F,
                      static_cast<int>(N), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS;
}

// cuBLAS seconds per call, keyed by {T, K, N, dtype} (patch embedding: {-1, S, D, dtype}).
std::map<std::array<int64_t, 4>, double>& cublas_seconds() {
  static std::map<std::array<int64_t, 4>, double> m;
  return m;
}

// Times `call` with CUDA events on the engine stream (one warm-up call first); returns mean seconds per
// call, or -1 after marking the benchmark skipped with an error when a call failed.
template <class F>
double time_calls(benchmark::State& state, F&& call) {
  if (!call() || cudaStreamSynchronize(cuda::stream()) != cudaSuccess) {
    state.SkipWithError("CUDA or cuBLAS call failed");
    return -1;
  }
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  double total = 0;
  int64_t n = 0;
  for (auto _ : state) {
    cudaEventRecord(start, cuda::stream());
    const bool ok = call();
    cudaEventRecord(stop, cuda::stream());
    if (!ok || cudaEventSynchronize(stop) != cudaSuccess) {
      state.SkipWithError("CUDA or cuBLAS call failed");
      total = -1;
      break;
    }
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms * 1e-3);
    total += ms * 1e-3;
    ++n;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return total >= 0 && n > 0 ? total / static_cast<double>(n) : -1;
}

void report(benchmark::State& state, const std::array<int64_t, 4>& key, Rung rung, double seconds, double flops,
            double bytes) {
  if (seconds < 0) return;  // already marked as skipped
  state.SetLabel(kRungNames[rung]);
  state.counters["TFLOP/s"] = flops / seconds * 1e-12;
  if (bytes > 0) state.counters["GB/s"] = bytes / seconds * 1e-9;
  if (rung == kCublas) {
    cublas_seconds()[key] = seconds;
  } else if (auto it = cublas_seconds().find(key); it != cublas_seconds().end()) {
    state.counters["vs_cublas"] = it->second / seconds;
  }
}

// Args: T, K, N, dtype (1 f16, 2 bf16), rung (0 cuBLAS, 1 Naive, 2 Tiled, 3 TensorCore, 4 Gemv).
void BM_CudaGemm(benchmark::State& state) {
  if (!cuda_available()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  const int64_t T = state.range(0), K = state.range(1), N = state.range(2);
  const DType dt = dtype_arg(state.range(3));
  const Rung rung = static_cast<Rung>(state.range(4));
  const size_t es = dtype_size(dt);
  DeviceArray x(static_cast<size_t>(T * K) * sizeof(float)), x16(static_cast<size_t>(T * K) * es);
  DeviceArray w(static_cast<size_t>(N * K) * es), y(static_cast<size_t>(T * N) * sizeof(float));
  if (!x.p || !x16.p || !w.p || !y.p || !upload_random(x.p, DType::F32, static_cast<size_t>(T * K), 1.0f, 1) ||
      !upload_random(x16.p, dt, static_cast<size_t>(T * K), 1.0f, 1) ||
      !upload_random(w.p, dt, static_cast<size_t>(N * K), 0.02f, 2)) {
    state.SkipWithError("device allocation or copy failed");
    return;
  }
  const double seconds = time_calls(state, [&] {
    if (rung == kCublas) return cublas() && cublas_gemm(x16.p, w.p, dt, static_cast<float*>(y.p), T, K, N);
    try {
      cuda::gemm(static_cast<const float*>(x.p), T, K, w.p, dt, nullptr, DType::F32, static_cast<float*>(y.p), N,
                 ops::Epilogue::None, kRungAlgo[rung]);
    } catch (const Error&) {
      return false;
    }
    return true;
  });
  const double bytes = T <= cuda::kGemvMaxRows ? static_cast<double>(N * K * es + (T * K + T * N) * sizeof(float)) : 0;
  report(state, {T, K, N, state.range(3)}, rung, seconds, 2.0 * T * K * N, bytes);
}

// Args: dtype, rung. SigLIP's stem: pixels[3, 384, 384], 14×14 patches, D = 1152 (P = 729, K = 588).
void BM_CudaPatchEmbed(benchmark::State& state) {
  if (!cuda_available()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  constexpr int64_t C = 3, S = 384, p = 14, D = 1152, grid = S / p, P = grid * grid, K = C * p * p;
  const DType dt = dtype_arg(state.range(0));
  const Rung rung = static_cast<Rung>(state.range(1));
  const size_t es = dtype_size(dt);
  DeviceArray pixels(static_cast<size_t>(C * S * S) * sizeof(float)), w(static_cast<size_t>(D * K) * es);
  DeviceArray b(static_cast<size_t>(D) * es), out(static_cast<size_t>(P * D) * sizeof(float));
  DeviceArray patches16(static_cast<size_t>(P * K) * es);
  if (!pixels.p || !w.p || !b.p || !out.p || !patches16.p ||
      !upload_random(pixels.p, DType::F32, static_cast<size_t>(C * S * S), 1.0f, 3) ||
      !upload_random(w.p, dt, static_cast<size_t>(D * K), 0.02f, 4) || !upload_random(b.p, dt, D, 0.02f, 5) ||
      !upload_random(patches16.p, dt, static_cast<size_t>(P * K), 1.0f, 6)) {  // values do not matter for timing
    state.SkipWithError("device allocation or copy failed");
    return;
  }
  const double seconds = time_calls(state, [&] {
    if (rung == kCublas) return cublas() && cublas_gemm(patches16.p, w.p, dt, static_cast<float*>(out.p), P, K, D);
    try {
      cuda::patch_embed_gemm(static_cast<const float*>(pixels.p), C, S, p, w.p, dt, b.p, dt,
                             static_cast<float*>(out.p), D, kRungAlgo[rung]);
    } catch (const Error&) {
      return false;
    }
    return true;
  });
  report(state, {-1, S, D, state.range(0)}, rung, seconds, 2.0 * P * K * D, 0);
}

// Every shape with cuBLAS first, then each rung that applies, for f16 and bf16 weights.
void model_shapes(benchmark::internal::Benchmark* b) {
  const std::vector<std::array<int64_t, 3>> shapes = {
      // SigLIP, T = 729 patches: qkv/o, fc1, fc2
      {729, 1152, 1152}, {729, 1152, 4304}, {729, 4304, 1152},
      // projector (mlp2x_gelu): 1152 -> 1536 -> 1536
      {729, 1152, 1536}, {729, 1536, 1536},
      // OpenELM prefill, T = 774 tokens: qkv-like, FFN up (gate+up), FFN down
      {774, 1536, 3072}, {774, 1536, 8192}, {774, 4096, 1536},
      // decode, T = 1: a square projection, an FFN up, the tied 32000-row output head
      {1, 1536, 1536}, {1, 1536, 8192}, {1, 1536, 32000}};
  for (const auto& s : shapes)
    for (int64_t dt : {1, 2})
      for (int64_t rung : {kCublas, kNaive, kTiled, kTensorCore, kGemv}) {
        if (rung == kGemv && s[0] > cuda::kGemvMaxRows) continue;
        b->Args({s[0], s[1], s[2], dt, rung});
      }
}

void patch_embed_cases(benchmark::internal::Benchmark* b) {
  for (int64_t dt : {1, 2})
    for (int64_t rung : {kCublas, kNaive, kTiled, kTensorCore}) b->Args({dt, rung});
}

}  // namespace

BENCHMARK(BM_CudaGemm)->Name("cuda_gemm")->Apply(model_shapes)->ArgNames({"T", "K", "N", "dtype", "rung"})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaPatchEmbed)->Name("cuda_patch_embed/384")->Apply(patch_embed_cases)->ArgNames({"dtype", "rung"})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
