// kernels/cuda/gemm.cu — y[T, N] = epi(x[T, K] · w[N, K]ᵀ + b[N]) on the GPU (nn.Linear, PyTorch layout),
// and the patch-embedding convolution as one GEMM with the pixel gather fused into its A-tile loads.
//
// The ladder (every rung callable through GemmAlgo; tests/kernels/test_cuda_gemm.cpp checks each one
// against kernels/ref, bench/bench_cuda_gemm.cpp times each one against cuBLAS in the same run):
//   1. Naive       one thread per output, F32 math straight from global memory (the baseline to beat;
//                  consecutive threads walk n, so their weight reads are K elements apart: uncoalesced).
//   2. Tiled       shared-memory tiling: a 64×64 block tile, BK = 16, 256 threads of 4×4 outputs each.
//                  Weights of any dtype are converted to F32 on their way into shared memory, so this
//                  is the exact F32 path (F32 weights). Every tail (T, N, K of any size) is masked.
//   3. TensorCore  F16/BF16 weights only. x is first rounded to the weight dtype into cuda::workspace()
//                  (rows padded with zeros to Kp = K rounded up to 8, so every row is 16-byte aligned).
//                  Block tile 64×128×32, 8 warps as 2 (M) × 4 (N), each warp a 32×32 tile of
//                  2×4 mma.sync.m16n8k16 (row.col, F32 accumulate), fragments fetched with ldmatrix.x4,
//                  both operands streamed through a 3-stage cp.async pipeline (45 KiB of static shared
//                  memory; rows padded from 64 to 80 bytes so the 8 rows an ldmatrix reads hit 8
//                  distinct 16-byte bank groups). Rows past T or N are zero-filled by cp.async with
//                  src-size 0. Weights whose rows are not 16-byte aligned (K % 8 != 0, e.g. the patch
//                  embedding's K = 588) are first copied into the workspace as a zero-padded [N, Kp]
//                  matrix, so the kernel itself only ever issues aligned 16-byte copies.
//                  64×128 rather than 128×128: the vision tower's 729×1152 products give 108 blocks
//                  instead of 54, which fills an H100's 132 SMs better.
//   4. Gemv        decode (T <= kGemvMaxRows): memory bound on the weights, so one warp streams one
//                  weight row with 16-byte loads, four in flight per lane, dots it with the T rows of x
//                  (read through the read-only cache) and reduces with shuffles. Rows that are not
//                  16-byte aligned, or an x that is not, take a scalar path; a K tail is scalar.
// Every rung fuses the epilogue into its store: + bias (F32/F16/BF16, optional), then GeluTanh or
// GeluErf (ops.h), in F32.
//
// Numerics: Naive, Tiled and Gemv compute in F32 from exactly converted weights (only the summation
// order differs from the F64 reference). TensorCore rounds the activations (or the gathered pixels) to
// the weight dtype, round-to-nearest-even, and accumulates in F32: products of two f16/bf16 values are
// exact in F32, so against a reference computed from the same rounded activations only the F32
// summation order differs.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace tl::cuda {
namespace {

// ---- pieces every rung shares ------------------------------------------------------------------------

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Two floats rounded to T, packed low-first into the 32 bits an mma operand register holds.
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}
template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}

// What the store of every rung applies to an accumulated dot product of column n.
struct Epi {
  const void* bias;  // [N] or null
  DType bias_dt;
  ops::Epilogue act;
};

__device__ __forceinline__ float apply_epilogue(float acc, int n, const Epi& e) {
  float v = e.bias ? acc + load_f32(e.bias, e.bias_dt, n) : acc;
  if (e.act == ops::Epilogue::GeluTanh) {
    const float k = 0.7978845608028654f;  // √(2/π); same expression as ref::gelu_tanh
    v = 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
  } else if (e.act == ops::Epilogue::GeluErf) {
    v = v * 0.5f * (1.0f + erff(v * 0.70710678118654752f));  // same expression as ref::gelu_erf
  }
  return v;
}

// The A operand of the F32 rungs, element (m, k) of the [M, K] left matrix.
struct RowsA {  // x[M, K], row-major
  const float* x;
  int K;
  __device__ __forceinline__ float operator()(int m, int k) const { return x[static_cast<int64_t>(m) * K + k]; }
};

// The patch matrix of pixels[C, S, S]: row m is patch (py, px) = (m / grid, m % grid), column k is
// (c, i, j) = (k / p², (k / p) % p, k % p), matching the weight layout w[D, C, p, p].
struct PatchA {
  const float* pixels;
  int S, p, grid;
  __device__ __forceinline__ float operator()(int m, int k) const {
    const int py = m / grid, px = m - py * grid;
    const int c = k / (p * p), r = k - c * p * p;
    const int i = r / p, j = r - i * p;
    return pixels[(static_cast<int64_t>(c) * S + py * p + i) * S + px * p + j];
  }
};

// ---- 1. Naive ----------------------------------------------------------------------------------------

template <class ASrc>
__global__ void gemm_naive_kernel(ASrc a, const void* w, DType w_dt, int M, int N, int K, Epi e, float* y) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<int64_t>(M) * N) return;
  const int m = static_cast<int>(idx / N), n = static_cast<int>(idx - static_cast<int64_t>(m) * N);
  const int64_t w_row = static_cast<int64_t>(n) * K;
  float acc = 0.0f;
  for (int k = 0; k < K; ++k) acc += a(m, k) * load_f32(w, w_dt, w_row + k);
  y[idx] = apply_epilogue(acc, n, e);
}

// ---- 2. Tiled (shared memory, F32 SIMT) ---------------------------------------------------------------

constexpr int kTiledM = 64, kTiledN = 64, kTiledK = 16;
constexpr int kTiledThreads = 256;  // 16 × 16 threads, 4 × 4 outputs each
static_assert(kTiledM * kTiledK == 4 * kTiledThreads && kTiledN * kTiledK == 4 * kTiledThreads,
              "each thread loads 4 elements of each tile");

template <typename WT, class ASrc>
__global__ void __launch_bounds__(kTiledThreads)
    gemm_smem_tiled_kernel(ASrc a, const WT* w, int M, int N, int K, Epi e, float* y) {
  // k-major tiles: a thread reads its 4 rows (or 4 columns) at one k as one float4. The +4 keeps the
  // float4s aligned; the transposing stores below then see 2-way bank conflicts, which is acceptable here.
  __shared__ __align__(16) float sA[kTiledK][kTiledM + 4];
  __shared__ __align__(16) float sB[kTiledK][kTiledN + 4];

  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int m0 = blockIdx.y * kTiledM, n0 = blockIdx.x * kTiledN;
  float acc[4][4] = {};

  for (int k0 = 0; k0 < K; k0 += kTiledK) {
    // 16 consecutive threads read 16 consecutive k of one row of x and of w (coalesced).
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int idx = tid + i * kTiledThreads;
      const int r = idx / kTiledK, kk = idx % kTiledK;
      const int m = m0 + r, n = n0 + r, k = k0 + kk;
      sA[kk][r] = (m < M && k < K) ? a(m, k) : 0.0f;
      sB[kk][r] = (n < N && k < K) ? to_f32(w[static_cast<int64_t>(n) * K + k]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTiledK; ++kk) {
      const float4 av = *reinterpret_cast<const float4*>(&sA[kk][ty * 4]);
      const float4 bv = *reinterpret_cast<const float4*>(&sB[kk][tx * 4]);
      const float ra[4] = {av.x, av.y, av.z, av.w}, rb[4] = {bv.x, bv.y, bv.z, bv.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += ra[i] * rb[j];
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + ty * 4 + i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int n = n0 + tx * 4 + j;
      if (n < N) y[static_cast<int64_t>(m) * N + n] = apply_epilogue(acc[i][j], n, e);
    }
  }
}

// ---- 3. TensorCore (mma.sync m16n8k16, ldmatrix, cp.async pipeline) ----------------------------------

constexpr int kTcM = 64, kTcN = 128, kTcK = 32, kTcStages = 3;
constexpr int kTcThreads = 256;      // 8 warps: 2 along M × 4 along N, each a 32 × 32 warp tile
constexpr int kTcLds = kTcK + 8;     // shared row stride in elements: 80 bytes (see the header)
constexpr int kChunk = 8;            // elements of a 16-byte copy
static_assert(kTcM * kTcK / kChunk == kTcThreads, "one 16-byte A chunk per thread per tile");
static_assert(kTcN * kTcK / kChunk == 2 * kTcThreads, "two 16-byte B chunks per thread per tile");
static_assert(kTcStages >= 2, "the pipeline needs at least two stages");

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte global -> shared copy that bypasses L1; with valid == false nothing is read (src-size 0) and
// the 16 shared bytes are zero-filled. `gmem` must be a valid address either way.
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)), "l"(gmem), "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// Four 8×8 b16 matrices; lanes 8i..8i+7 give the row addresses of matrix i, and register i receives
// matrix i with lane l holding row l / 4, columns 2·(l % 4) and 2·(l % 4) + 1 (low half first).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(smem))
               : "memory");
}

// d += a · b for one 16×8×16 tile, F32 accumulators.
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma_16816<__half>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// A-tile loaders of the tensor-core kernel. load() starts fetching the kTcM × kTcK tile at (m0, k0)
// into one pipeline stage; store() finishes it after the current stage's math (the register-staged
// gather writes shared memory there, so its global loads overlap the mma work).
//
// x already rounded to T in a zero-padded [M, lda] buffer (lda a multiple of 8, 16-byte aligned rows).
template <typename T>
struct AsyncRowsA {
  const T* a;
  int lda, M;
  __device__ __forceinline__ void load(T (*sA)[kTcLds], int m0, int k0, int tid) {
    const int row = tid / (kTcK / kChunk), kc = (tid % (kTcK / kChunk)) * kChunk;
    const int m = m0 + row, k = k0 + kc;
    const bool valid = m < M && k < lda;  // k and lda are multiples of 8: a chunk is all in or all out
    cp_async_16(&sA[row][kc], valid ? a + static_cast<int64_t>(m) * lda + k : a, valid);
  }
  __device__ __forceinline__ void store(T (*)[kTcLds]) {}
};

// The patch matrix gathered from pixels[C, S, S] (F32), rounded to T in registers, then stored.
template <typename T>
struct PatchGatherA {
  const float* pixels;
  int S, p, grid, M, K;  // M = grid², K = C·p·p
  float v[kChunk];
  int row, kc;
  __device__ __forceinline__ void load(T (*)[kTcLds], int m0, int k0, int tid) {
    row = tid / (kTcK / kChunk);
    kc = (tid % (kTcK / kChunk)) * kChunk;
    const int m = m0 + row, k = k0 + kc;
    const int py = m / grid, px = m - py * grid;
    // (c, i, j) of column k, then stepped along j for the chunk's 8 consecutive columns.
    int c = k / (p * p), r = k - c * p * p;
    int i = r / p, j = r - i * p;
#pragma unroll
    for (int e = 0; e < kChunk; ++e) {
      v[e] = (m < M && k + e < K) ? pixels[(static_cast<int64_t>(c) * S + py * p + i) * S + px * p + j] : 0.0f;
      if (++j == p) {
        j = 0;
        if (++i == p) {
          i = 0;
          ++c;
        }
      }
    }
  }
  __device__ __forceinline__ void store(T (*sA)[kTcLds]) {
    const uint4 q = {pack2<T>(v[0], v[1]), pack2<T>(v[2], v[3]), pack2<T>(v[4], v[5]), pack2<T>(v[6], v[7])};
    *reinterpret_cast<uint4*>(&sA[row][kc]) = q;
  }
};

// One kTcK slice of the block tile: this warp's 32×32 outputs += sA[32 rows] · sB[32 rows]ᵀ.
template <typename T>
__device__ __forceinline__ void mma_stage(T (*sA)[kTcLds], T (*sB)[kTcLds], int wm, int wn, int lane,
                                          float (&acc)[2][4][4]) {
#pragma unroll
  for (int kk = 0; kk < kTcK; kk += 16) {
    // A, 16×16 per m16 tile: matrices (rows 0-7, k 0-7), (rows 8-15, k 0-7), (rows 0-7, k 8-15),
    // (rows 8-15, k 8-15) are a0a1, a2a3, a4a5, a6a7 of the mma's row-major A fragment.
    uint32_t af[2][4];
#pragma unroll
    for (int mi = 0; mi < 2; ++mi) ldmatrix_x4(af[mi], &sA[wm * 32 + mi * 16 + lane % 16][kk + (lane / 16) * 8]);
    // B ("col" operand = w rows, k contiguous), two n8 tiles per ldmatrix.x4: matrices (n 0-7, k 0-7),
    // (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15) are b0b1, b2b3 of n-tile 0, then of n-tile 1.
    uint32_t bf[4][2];
#pragma unroll
    for (int nj = 0; nj < 2; ++nj) {
      uint32_t r[4];
      ldmatrix_x4(r, &sB[wn * 32 + nj * 16 + (lane & 7) + ((lane >> 4) << 3)][kk + ((lane >> 3) & 1) * 8]);
      bf[2 * nj][0] = r[0];
      bf[2 * nj][1] = r[1];
      bf[2 * nj + 1][0] = r[2];
      bf[2 * nj + 1][1] = r[3];
    }
#pragma unroll
    for (int mi = 0; mi < 2; ++mi)
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) mma_16816<T>(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
  }
}

// y[M, N] = epi(A[M, K] · w[N, Kp]ᵀ): w 16-byte aligned with Kp % 8 == 0 and zeros in any padding
// columns; A comes from the loader (zeros past its K).
template <typename T, class ALoader>
__global__ void __launch_bounds__(kTcThreads, 2)
    gemm_tensor_core_kernel(ALoader a_tiles, const T* w, int M, int N, int Kp, Epi e, float* y) {
  __shared__ __align__(16) T sA[kTcStages][kTcM][kTcLds];
  __shared__ __align__(16) T sB[kTcStages][kTcN][kTcLds];

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int wm = warp / 4, wn = warp % 4;  // warp tile origin: rows wm·32, columns wn·32
  const int m0 = blockIdx.y * kTcM, n0 = blockIdx.x * kTcN;
  const int k_tiles = ceil_div(Kp, kTcK);

  auto load_b = [&](int stage, int kt) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int chunk = tid + i * kTcThreads;
      const int row = chunk / (kTcK / kChunk), kc = (chunk % (kTcK / kChunk)) * kChunk;
      const int n = n0 + row, k = kt * kTcK + kc;
      const bool valid = n < N && k < Kp;
      cp_async_16(&sB[stage][row][kc], valid ? w + static_cast<int64_t>(n) * Kp + k : w, valid);
    }
  };

  float acc[2][4][4] = {};

  // Prologue: tiles 0 .. kTcStages-2 in flight, one commit group each (empty groups past the end keep
  // the group count uniform, so wait_group below always means "tile kt has landed").
  for (int s = 0; s < kTcStages - 1; ++s) {
    if (s < k_tiles) {
      a_tiles.load(sA[s], m0, s * kTcK, tid);
      load_b(s, s);
      a_tiles.store(sA[s]);
    }
    cp_async_commit();
  }

  for (int kt = 0; kt < k_tiles; ++kt) {
    cp_async_wait<kTcStages - 2>();  // this thread's copies of tile kt are done ...
    __syncthreads();                 // ... and everyone's; everyone is also done reading tile kt-1's stage
    // Refill the stage tile kt-1 used with tile kt + kTcStages - 1.
    const int next = kt + kTcStages - 1, next_stage = next % kTcStages;
    const bool has_next = next < k_tiles;
    if (has_next) {
      a_tiles.load(sA[next_stage], m0, next * kTcK, tid);
      load_b(next_stage, next);
    }
    cp_async_commit();
    mma_stage<T>(sA[kt % kTcStages], sB[kt % kTcStages], wm, wn, lane, acc);
    if (has_next) a_tiles.store(sA[next_stage]);  // read after the __syncthreads of iteration `next`
  }
  cp_async_wait<0>();

  // C fragment of each m16n8 tile: c0, c1 at (row g, columns 2t, 2t+1), c2, c3 at row g + 8.
  const int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int mi = 0; mi < 2; ++mi)
#pragma unroll
    for (int ni = 0; ni < 4; ++ni)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int m = m0 + wm * 32 + mi * 16 + g + h * 8;
        const int n = n0 + wn * 32 + ni * 8 + 2 * t;
        if (m >= M) continue;
        float* y_row = y + static_cast<int64_t>(m) * N;
        if (n < N) y_row[n] = apply_epilogue(acc[mi][ni][2 * h], n, e);
        if (n + 1 < N) y_row[n + 1] = apply_epilogue(acc[mi][ni][2 * h + 1], n + 1, e);
      }
}

// out[rows, ld_out] = src[rows, K] converted to Dst, columns K .. ld_out-1 zero (the tensor-core
// operands: activations rounded to the weight dtype, or weights re-laid with 16-byte aligned rows).
template <typename Src, typename Dst>
__global__ void convert_pad_rows_kernel(const Src* src, int64_t rows, int K, int ld_out, Dst* out) {
  const int64_t total = rows * ld_out;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / ld_out;
    const int k = static_cast<int>(i - r * ld_out);
    out[i] = from_f32<Dst>(k < K ? to_f32(src[r * K + k]) : 0.0f);
  }
}

// ---- 4. Gemv (decode) ---------------------------------------------------------------------------------

constexpr int kGemvWarps = 4;   // rows of w per block, one warp each
constexpr int kGemvUnroll = 4;  // 16-byte weight loads in flight per lane

// acc[t] += w_chunk · x[t, k .. k+E), E = 16 / sizeof(WT) weights unpacked from one 16-byte load.
template <typename WT>
__device__ __forceinline__ void gemv_dot_chunk(const uint4& q, const float* x, int T, int K, int k,
                                               float (&acc)[kGemvMaxRows]) {
  constexpr int kE = 16 / static_cast<int>(sizeof(WT));
  float wf[kE];
  const uint32_t words[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    if constexpr (sizeof(WT) == 4) {
      wf[i] = __uint_as_float(words[i]);
    } else if constexpr (std::is_same_v<WT, __half>) {
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&words[i]));
      wf[2 * i] = f.x;
      wf[2 * i + 1] = f.y;
    } else {
      const float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&words[i]));
      wf[2 * i] = f.x;
      wf[2 * i + 1] = f.y;
    }
  }
#pragma unroll
  for (int t = 0; t < kGemvMaxRows; ++t) {
    if (t >= T) break;
    const float4* xv = reinterpret_cast<const float4*>(x + static_cast<int64_t>(t) * K + k);
#pragma unroll
    for (int h = 0; h < kE / 4; ++h) {
      const float4 xq = __ldg(xv + h);
      acc[t] += wf[4 * h] * xq.x + wf[4 * h + 1] * xq.y + wf[4 * h + 2] * xq.z + wf[4 * h + 3] * xq.w;
    }
  }
}

// y[T, N] = epi(x[T, K] · w[N, K]ᵀ) for T <= kGemvMaxRows. x_vec: x is 16-byte aligned and K % 4 == 0,
// so every x[t, k] with k % 4 == 0 can be read as a float4.
template <typename WT>
__global__ void __launch_bounds__(kGemvWarps * 32)
    gemv_warp_per_row_kernel(const float* x, int T, int K, const WT* w, int N, bool x_vec, Epi e, float* y) {
  const int lane = threadIdx.x % 32;
  const int n = blockIdx.x * kGemvWarps + threadIdx.x / 32;
  if (n >= N) return;  // a whole warp leaves together, so the shuffles below see all 32 lanes
  const WT* w_row = w + static_cast<int64_t>(n) * K;
  float acc[kGemvMaxRows] = {};

  int k_done = 0;  // columns covered by the 16-byte body
  if (x_vec && reinterpret_cast<uintptr_t>(w_row) % 16 == 0) {
    constexpr int kE = 16 / static_cast<int>(sizeof(WT));
    const int chunks = K / kE;
    const uint4* wv = reinterpret_cast<const uint4*>(w_row);
    int c = lane;
    for (; c + (kGemvUnroll - 1) * 32 < chunks; c += kGemvUnroll * 32) {
      uint4 q[kGemvUnroll];
#pragma unroll
      for (int u = 0; u < kGemvUnroll; ++u) q[u] = __ldg(wv + c + u * 32);  // all loads issued first
#pragma unroll
      for (int u = 0; u < kGemvUnroll; ++u) gemv_dot_chunk<WT>(q[u], x, T, K, (c + u * 32) * kE, acc);
    }
    for (; c < chunks; c += 32) gemv_dot_chunk<WT>(__ldg(wv + c), x, T, K, c * kE, acc);
    k_done = chunks * kE;
  }
  // Scalar tail (or the whole row when it is misaligned): lanes take consecutive columns.
  for (int k = k_done + lane; k < K; k += 32) {
    const float wk = to_f32(w_row[k]);
#pragma unroll
    for (int t = 0; t < kGemvMaxRows; ++t) {
      if (t >= T) break;
      acc[t] += wk * __ldg(x + static_cast<int64_t>(t) * K + k);
    }
  }

#pragma unroll
  for (int t = 0; t < kGemvMaxRows; ++t) {
    if (t >= T) break;
    const float s = warp_sum(acc[t]);
    if (lane == 0) y[static_cast<int64_t>(t) * N + n] = apply_epilogue(s, n, e);
  }
}

// ---- launchers ------------------------------------------------------------------------------------------

constexpr int64_t kMaxDim = INT32_MAX;  // sizes are int inside the kernels
constexpr int64_t kMaxGridY = 65535;

bool is_weight_dtype(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// Calls f(WT{}) with WT the C++ type of weight dtype dt (F32, F16 or BF16; checked by the caller).
template <class F>
void with_weight_type(DType dt, F&& f) {
  switch (dt) {
    case DType::F16: f(__half{}); break;
    case DType::BF16: f(__nv_bfloat16{}); break;
    default: f(float{}); break;
  }
}

template <class ASrc>
void launch_naive(const char* op, ASrc a, const void* w, DType w_dt, int M, int N, int K, const Epi& e, float* y) {
  constexpr int kThreads = 256;
  const int64_t blocks = ceil_div<int64_t>(static_cast<int64_t>(M) * N, kThreads);
  if (blocks > kMaxDim) fail_internal("%s: Naive: M=%d × N=%d outputs exceed one grid", op, M, N);
  gemm_naive_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream()>>>(a, w, w_dt, M, N, K, e, y);
  CUDA_CHECK_LAUNCH();
}

template <typename WT, class ASrc>
void launch_tiled(const char* op, ASrc a, const WT* w, int M, int N, int K, const Epi& e, float* y) {
  const dim3 grid(blocks_for(N, kTiledN), blocks_for(M, kTiledM));
  if (grid.y > kMaxGridY)
    fail_internal("%s: Tiled: M=%d rows exceed the grid (at most %lld)", op, M, static_cast<long long>(kMaxGridY * kTiledM));
  gemm_smem_tiled_kernel<WT><<<grid, kTiledThreads, 0, stream()>>>(a, w, M, N, K, e, y);
  CUDA_CHECK_LAUNCH();
}

// Scratch for the tensor-core rung: the rounded activations (a_bytes, when the A operand needs them)
// followed by a padded copy of the weights when their rows are not 16-byte aligned. One workspace()
// call, since a later, larger call may move the buffer.
template <typename T>
struct TcScratch {
  T* a = nullptr;        // [M, Kp]
  const T* w = nullptr;  // [N, Kp], 16-byte aligned rows
};

template <typename T>
TcScratch<T> prepare_tensor_core(const float* x, int M, int K, const T* w, int N, int Kp) {
  constexpr int kThreads = 256, kMaxBlocks = 4096;
  const bool w_aligned = Kp == K && reinterpret_cast<uintptr_t>(w) % 16 == 0;
  const size_t a_bytes = x ? static_cast<size_t>(round_up<int64_t>(static_cast<int64_t>(M) * Kp * sizeof(T), 256)) : 0;
  const size_t w_bytes = w_aligned ? 0 : static_cast<size_t>(N) * Kp * sizeof(T);
  TcScratch<T> s;
  s.w = w;
  if (a_bytes + w_bytes == 0) return s;
  char* ws = static_cast<char*>(workspace(a_bytes + w_bytes));
  if (reinterpret_cast<uintptr_t>(ws) % 16 != 0) fail_internal("gemm: workspace is not 16-byte aligned");
  if (x) {
    s.a = reinterpret_cast<T*>(ws);
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(blocks_for(static_cast<int64_t>(M) * Kp, kThreads), kMaxBlocks));
    convert_pad_rows_kernel<float, T><<<blocks, kThreads, 0, stream()>>>(x, M, K, Kp, s.a);
    CUDA_CHECK_LAUNCH();
  }
  if (!w_aligned) {
    T* wp = reinterpret_cast<T*>(ws + a_bytes);
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(blocks_for(static_cast<int64_t>(N) * Kp, kThreads), kMaxBlocks));
    convert_pad_rows_kernel<T, T><<<blocks, kThreads, 0, stream()>>>(w, N, K, Kp, wp);
    CUDA_CHECK_LAUNCH();
    s.w = wp;
  }
  return s;
}

template <typename T, class ALoader>
void launch_tensor_core(const char* op, const ALoader& a, const T* w, int M, int N, int Kp, const Epi& e, float* y) {
  const dim3 grid(blocks_for(N, kTcN), blocks_for(M, kTcM));
  if (grid.y > kMaxGridY)
    fail_internal("%s: TensorCore: M=%d rows exceed the grid (at most %lld)", op, M, static_cast<long long>(kMaxGridY * kTcM));
  gemm_tensor_core_kernel<T, ALoader><<<grid, kTcThreads, 0, stream()>>>(a, w, M, N, Kp, e, y);
  CUDA_CHECK_LAUNCH();
}

template <typename WT>
void launch_gemv(const float* x, int T, int K, const WT* w, int N, const Epi& e, float* y) {
  const bool x_vec = reinterpret_cast<uintptr_t>(x) % 16 == 0 && K % 4 == 0;
  gemv_warp_per_row_kernel<WT><<<blocks_for(N, kGemvWarps), kGemvWarps * 32, 0, stream()>>>(x, T, K, w, N, x_vec, e, y);
  CUDA_CHECK_LAUNCH();
}

void check_dtypes(const char* op, const void* w, DType w_dt, const void* bias, DType bias_dt) {
  if (!w || !is_weight_dtype(w_dt))
    fail_internal("%s: weights must be non-null F32/F16/BF16 (got %s%s)", op, w ? "" : "null ", dtype_name(w_dt));
  if (bias && !is_weight_dtype(bias_dt)) fail_internal("%s: bias must be F32/F16/BF16 (got %s)", op, dtype_name(bias_dt));
}

}  // namespace

void gemm(const float* x, int64_t T, int64_t K, const void* w, DType w_dt, const void* bias, DType bias_dt, float* y,
          int64_t N, ops::Epilogue epi, GemmAlgo algo) {
  constexpr const char* op = "gemm";
  if (T < 0 || T > kMaxDim || K < 1 || K > kMaxDim || N < 1 || N > kMaxDim)
    fail_internal("%s: sizes out of range (T=%lld, K=%lld, N=%lld; T >= 0, K and N >= 1, all < 2^31)", op,
                  static_cast<long long>(T), static_cast<long long>(K), static_cast<long long>(N));
  if (T == 0) return;
  if (!x || !y) fail_internal("%s: null x or y (T=%lld, K=%lld, N=%lld)", op, static_cast<long long>(T),
                              static_cast<long long>(K), static_cast<long long>(N));
  check_dtypes(op, w, w_dt, bias, bias_dt);
  if (algo == GemmAlgo::Auto)
    algo = T <= kGemvMaxRows ? GemmAlgo::Gemv : w_dt == DType::F32 ? GemmAlgo::Tiled : GemmAlgo::TensorCore;
  if (algo == GemmAlgo::TensorCore && w_dt == DType::F32)
    fail_internal("%s: TensorCore needs F16/BF16 weights, got F32 (T=%lld, K=%lld, N=%lld)", op,
                  static_cast<long long>(T), static_cast<long long>(K), static_cast<long long>(N));
  if (algo == GemmAlgo::Gemv && T > kGemvMaxRows)
    fail_internal("%s: Gemv takes at most %lld rows, got T=%lld (K=%lld, N=%lld)", op,
                  static_cast<long long>(kGemvMaxRows), static_cast<long long>(T), static_cast<long long>(K),
                  static_cast<long long>(N));

  const int M = static_cast<int>(T), Ki = static_cast<int>(K), Ni = static_cast<int>(N);
  const Epi e{bias, bias_dt, epi};
  switch (algo) {
    case GemmAlgo::Naive: launch_naive(op, RowsA{x, Ki}, w, w_dt, M, Ni, Ki, e, y); break;
    case GemmAlgo::Tiled:
      with_weight_type(w_dt, [&](auto tag) {
        using WT = decltype(tag);
        launch_tiled<WT>(op, RowsA{x, Ki}, static_cast<const WT*>(w), M, Ni, Ki, e, y);
      });
      break;
    case GemmAlgo::TensorCore:
      with_weight_type(w_dt, [&](auto tag) {
        using WT = decltype(tag);
        if constexpr (!std::is_same_v<WT, float>) {
          const int Kp = static_cast<int>(round_up<int64_t>(K, kChunk));
          const TcScratch<WT> s = prepare_tensor_core<WT>(x, M, Ki, static_cast<const WT*>(w), Ni, Kp);
          launch_tensor_core<WT>(op, AsyncRowsA<WT>{s.a, Kp, M}, s.w, M, Ni, Kp, e, y);
        }
      });
      break;
    case GemmAlgo::Gemv:
      with_weight_type(w_dt, [&](auto tag) {
        using WT = decltype(tag);
        launch_gemv<WT>(x, M, Ki, static_cast<const WT*>(w), Ni, e, y);
      });
      break;
    case GemmAlgo::Auto: break;  // resolved above
  }
}

void patch_embed_gemm(const float* pixels, int64_t C, int64_t S, int64_t p, const void* w, DType w_dt, const void* b,
                      DType b_dt, float* out, int64_t D, GemmAlgo algo) {
  constexpr const char* op = "patch_embed_gemm";
  // (in double: the products of out-of-range sizes would overflow int64)
  if (C < 1 || p < 1 || S < p || D < 1 || S > kMaxDim || D > kMaxDim ||
      static_cast<double>(C) * p * p > static_cast<double>(kMaxDim) ||
      static_cast<double>(C) * S * S > 0x1p62)
    fail_internal("%s: sizes out of range (C=%lld, S=%lld, p=%lld, D=%lld; need 1 <= p <= S)", op,
                  static_cast<long long>(C), static_cast<long long>(S), static_cast<long long>(p),
                  static_cast<long long>(D));
  const int64_t grid = (S - p) / p + 1, P = grid * grid, K = C * p * p;
  if (P > kMaxDim) fail_internal("%s: %lld patches exceed 2^31", op, static_cast<long long>(P));
  if (!pixels || !out) fail_internal("%s: null pixels or out", op);
  check_dtypes(op, w, w_dt, b, b_dt);
  if (algo == GemmAlgo::Auto) algo = w_dt == DType::F32 ? GemmAlgo::Tiled : GemmAlgo::TensorCore;
  if (algo == GemmAlgo::Gemv || (algo == GemmAlgo::TensorCore && w_dt == DType::F32))
    fail_internal("%s: %s is not available with %s weights (C=%lld, S=%lld, p=%lld, D=%lld)", op, algo_name(algo),
                  dtype_name(w_dt), static_cast<long long>(C), static_cast<long long>(S), static_cast<long long>(p),
                  static_cast<long long>(D));

  const int M = static_cast<int>(P), Ki = static_cast<int>(K), Ni = static_cast<int>(D);
  const int Si = static_cast<int>(S), pi = static_cast<int>(p), gi = static_cast<int>(grid);
  const PatchA gather{pixels, Si, pi, gi};
  const Epi e{b, b_dt, ops::Epilogue::None};
  switch (algo) {
    case GemmAlgo::Naive: launch_naive(op, gather, w, w_dt, M, Ni, Ki, e, out); break;
    case GemmAlgo::Tiled:
      with_weight_type(w_dt, [&](auto tag) {
        using WT = decltype(tag);
        launch_tiled<WT>(op, gather, static_cast<const WT*>(w), M, Ni, Ki, e, out);
      });
      break;
    case GemmAlgo::TensorCore:
      with_weight_type(w_dt, [&](auto tag) {
        using WT = decltype(tag);
        if constexpr (!std::is_same_v<WT, float>) {
          const int Kp = static_cast<int>(round_up<int64_t>(K, kChunk));
          const TcScratch<WT> s = prepare_tensor_core<WT>(nullptr, M, Ki, static_cast<const WT*>(w), Ni, Kp);
          PatchGatherA<WT> a{};
          a.pixels = pixels;
          a.S = Si;
          a.p = pi;
          a.grid = gi;
          a.M = M;
          a.K = Ki;
          launch_tensor_core<WT>(op, a, s.w, M, Ni, Kp, e, out);
        }
      });
      break;
    case GemmAlgo::Gemv:
    case GemmAlgo::Auto: break;  // refused / resolved above
  }
}

const char* algo_name(GemmAlgo a) {
  switch (a) {
    case GemmAlgo::Auto: return "Auto";
    case GemmAlgo::Naive: return "Naive";
    case GemmAlgo::Tiled: return "Tiled";
    case GemmAlgo::TensorCore: return "TensorCore";
    case GemmAlgo::Gemv: return "Gemv";
  }
  return "?";
}

}  // namespace tl::cuda
