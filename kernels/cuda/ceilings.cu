// kernels/cuda/ceilings.cu — this GPU's ceilings, measured (contract in cuda_ops.h): what `tinyllava
// roofline --device cuda` draws its kernels under, as kernels/cpu/ceilings.h does for the CPU.
//
//   read      every SM streams a device buffer (1 GiB by default, far past L2) with 16-byte loads,
//             grid-stride, into a sum per block (written out, so nothing is optimised away);
//   fp32 FMA  each thread runs 8 independent fmaf chains in registers (no memory in the loop);
//   f16 / bf16 tensor cores  each warp runs mma.sync.m16n8k16 (F32 accumulate, the instruction of
//             gemm.cu's TensorCore kernel) on 4 independent accumulator fragments from registers.
// Each figure is the best of 5 timed launches (cudaEvent on the engine's stream) after one warm-up:
// a ceiling is what the card can do, not its average.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

#include <algorithm>

namespace tl::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kFmaChains = 8, kFmaIters = 4096;
constexpr int kMmaChains = 4, kMmaIters = 4096;

__global__ void read_kernel(const float4* __restrict__ p, int64_t n, float* __restrict__ sums) {
  float4 a = make_float4(0, 0, 0, 0);
#pragma unroll 4
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float4 v = p[i];
    a.x += v.x, a.y += v.y, a.z += v.z, a.w += v.w;
  }
  __shared__ float block[kThreads];
  block[threadIdx.x] = a.x + a.y + a.z + a.w;
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0;
    for (int t = 0; t < kThreads; ++t) s += block[t];
    sums[blockIdx.x] = s;
  }
}

// x = x·a + b on kFmaChains registers, kFmaIters times; seed keeps the compiler from folding it.
__global__ void fma_kernel(float seed, float* __restrict__ out) {
  float x[kFmaChains];
#pragma unroll
  for (int c = 0; c < kFmaChains; ++c) x[c] = seed + threadIdx.x + c;
  const float a = 0.999f + seed * 1e-9f, b = 1e-3f;
  for (int i = 0; i < kFmaIters; ++i)
#pragma unroll
    for (int c = 0; c < kFmaChains; ++c) x[c] = fmaf(x[c], a, b);
  float s = 0;
#pragma unroll
  for (int c = 0; c < kFmaChains; ++c) s += x[c];
  if (s == 12345.0f) out[0] = s;  // practically never: only so that the chains are live
}

// d += a·b on kMmaChains accumulator fragments, kMmaIters times, per warp. BF16 selects the bf16 form.
template <bool BF16>
__global__ void mma_kernel(uint32_t seed, float* __restrict__ out) {
  uint32_t a[4], b[2];
#pragma unroll
  for (int r = 0; r < 4; ++r) a[r] = 0x3c003c00u ^ (seed + threadIdx.x + r);
  b[0] = a[0] ^ 0x1u, b[1] = a[1] ^ 0x2u;
  float d[kMmaChains][4] = {};
  for (int i = 0; i < kMmaIters; ++i)
#pragma unroll
    for (int c = 0; c < kMmaChains; ++c) {
      if constexpr (BF16)
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};\n"
            : "+f"(d[c][0]), "+f"(d[c][1]), "+f"(d[c][2]), "+f"(d[c][3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
      else
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
            "{%0, %1, %2, %3};\n"
            : "+f"(d[c][0]), "+f"(d[c][1]), "+f"(d[c][2]), "+f"(d[c][3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
  float s = 0;
#pragma unroll
  for (int c = 0; c < kMmaChains; ++c) s += d[c][0] + d[c][1] + d[c][2] + d[c][3];
  if (s == 12345.0f) out[0] = s;
}

// The shortest of 5 timed runs of launch() (after one warm-up), in seconds.
template <class F>
double best_seconds(F&& launch) {
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  launch();
  CUDA_CHECK_LAUNCH();
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    CUDA_CHECK(cudaEventRecord(start, stream()));
    launch();
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaEventRecord(stop, stream()));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    best = std::min(best, ms * 1e-3);
  }
  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
  return best;
}

}  // namespace

DeviceCeilings measure_ceilings(size_t read_bytes) {
  DeviceCeilings c;
  int dev = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  c.name = prop.name;
  c.sms = prop.multiProcessorCount;
  c.compute_capability = prop.major * 10 + prop.minor;

  const int64_t n4 = static_cast<int64_t>(std::max<size_t>(read_bytes, size_t{1} << 20) / sizeof(float4));
  float4* buf = nullptr;
  float* out = nullptr;
  const int blocks = c.sms * 8;
  CUDA_CHECK(cudaMalloc(&buf, static_cast<size_t>(n4) * sizeof(float4)));
  CUDA_CHECK(cudaMalloc(&out, static_cast<size_t>(blocks) * sizeof(float)));
  CUDA_CHECK(cudaMemsetAsync(buf, 0, static_cast<size_t>(n4) * sizeof(float4), stream()));
  const double read_s = best_seconds([&] { read_kernel<<<blocks, kThreads, 0, stream()>>>(buf, n4, out); });
  c.read_gbs = static_cast<double>(n4) * sizeof(float4) / read_s / 1e9;

  const double fma_s = best_seconds([&] { fma_kernel<<<blocks, kThreads, 0, stream()>>>(1.0f, out); });
  c.fp32_gflops = 2.0 * kFmaChains * kFmaIters * blocks * kThreads / fma_s / 1e9;

  // m16n8k16: 16·8·16 multiply-adds per warp and instruction. Tensor-core mma needs sm_80 (gemm.cu's too).
  if (c.compute_capability >= 80) {
    const double per_launch = 2.0 * 16 * 8 * 16 * kMmaChains * kMmaIters * blocks * (kThreads / 32);
    c.f16_tc_gflops = per_launch / best_seconds([&] { mma_kernel<false><<<blocks, kThreads, 0, stream()>>>(1u, out); }) / 1e9;
    c.bf16_tc_gflops = per_launch / best_seconds([&] { mma_kernel<true><<<blocks, kThreads, 0, stream()>>>(1u, out); }) / 1e9;
  }
  CUDA_CHECK(cudaFree(buf));
  CUDA_CHECK(cudaFree(out));
  return c;
}

}  // namespace tl::cuda
