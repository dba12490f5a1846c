// kernels/cuda/attention.cu — scaled dot-product attention with grouped KV heads on the GPU.
//
// Contract (kernels/cuda/cuda_ops.h attention_raw, the same as kernels/ops.h attention):
//   q[T, H, Dh], k[S, Hkv, Dh], v[S, Hkv, Dh] -> out[T, H, Dh], contiguous F32 device arrays;
//   query head h reads KV head g = h / (H / Hkv); query t sees keys j <= t + causal_offset, or every
//   key when causal_offset < 0. The specification is kernels/ref/ref.cpp ref::attention.
// Tested by tests/kernels/test_cuda_attention.cpp (every rung against ref::attention), timed by
// bench/bench_cuda_attention.cpp (every rung at the SigLIP, OpenELM prefill and decode shapes).
//
// The ladder (every rung selectable with AttentionAlgo):
//   1. Naive   one block of 256 threads per (query t, head h): the row's scores in dynamic shared
//              memory (S + Dh floats, so S is limited by shared memory), block-wide max and sum, then
//              out[d] = Σ_j p_j v[j, d] with one thread per d. Kept as the reference rung; it loses
//              because every (t, h) block re-reads all of K and V (T·H·S·Dh·2 loads, no reuse) and the
//              output phase keeps only Dh of its 256 threads busy.
//   2. Flash   FlashAttention-2 (Dao, 2023, Algorithm 1) in F32 SIMT: one block of 128 threads per
//              (tile of Br = 64 queries, head h). Q_i [Br × Dh] stays in shared memory; the loop loads
//              tiles K_j, V_j of Bc = 64 keys into shared memory, computes S_ij = scale · Q_i K_jᵀ in
//              registers, updates the online softmax (running max m_i, running sum ℓ_i, the
//              accumulator O_i rescaled by exp(m_old − m_new)), writes P̃_ij to shared memory and adds
//              P̃_ij V_j to O_i. No T × S matrix exists anywhere. Each thread owns 8 query rows (the same
//              rows in both products, so m_i and ℓ_i never leave registers) × 4 keys of S_ij and
//              × DH_PAD/16 columns of O_i; a row's 16 threads are one half-warp, so a row max or sum
//              is 4 shuffles. Dh is a template parameter padded to DH_PAD ∈ {64, 80, 128} (zeros in
//              shared memory: 68.6, 80.9, 117.8 KB a block); Dh > 128 is refused. Causal: key tiles
//              past the last visible key of the block's last query are skipped, and masking is applied
//              only in tiles that cross the first query's limit (or S). Blocks are launched last query
//              tile first, the longest ones under causal.
//   3. SplitK  decode (Flash-Decoding): one block of 128 threads per (query row t·H + h, chunk of
//              kSplitKeys = 128 keys). It writes its partial (m, ℓ, acc[Dh]) — max, sum and unnormalised
//              Σ p v of its chunk — to cuda::workspace(); a second kernel combines the chunks of a row:
//              M = max m_s, L = Σ ℓ_s e^(m_s − M), out = Σ acc_s e^(m_s − M) / L. Correct for any T (each
//              row masks its own keys), but only T = 1 gains: a decode step has H blocks for Flash and
//              H·ceil(S / 128) here. Dh ≤ 128.
//   Auto: SplitK when T = 1 and S >= 256; Naive when Dh > 128 (Flash and SplitK refuse it); else Flash.
//
// Numerics: F32 throughout, expf (full precision, not __expf). Scores are (q·k) · scale with the dot
// product accumulated in F32 FMAs over d = 0..Dh-1. Masked scores are −inf; a row with no visible key
// yet uses 0 as its reference max so that exp(−inf − m) gives 0, never NaN, and a row with no visible
// key at all (only possible for S = 0) writes 0. Against ref (F64 accumulation) the rungs agree to
// about 1e-6 of max|out| (the tests allow 1e-5); they differ from each other only in summation order.
//
// Not done yet (candidate next steps, to be measured; none affects correctness): cp.async
// double-buffering of the K/V tiles, a tensor-core (TF32 or BF16 mma.sync) variant, one SplitK block per
// KV head so the H/Hkv query heads of a group share one read of K and V.
#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace tl::cuda {

namespace {

constexpr int kMaxDh = 128;  // the largest head dim Flash and SplitK take

// ---- shared helpers -----------------------------------------------------------------------------------

// Max / sum over the 16 lanes of a half-warp (xor offsets below 16 stay inside the half). Every lane of
// the warp must call them.
__device__ __forceinline__ float half_warp_max(float v) {
  for (int o = 8; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float half_warp_sum(float v) {
  for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Block-wide max / sum, the result in every thread. s_red holds one float per warp; back-to-back calls
// may share it (the leading __syncthreads waits for the previous call's readers). blockDim.x is a
// multiple of 32. Both end after a __syncthreads, so shared writes made before the call are visible.
__device__ float block_max(float v, float* s_red) {
  v = warp_max(v);
  __syncthreads();
  if (threadIdx.x % 32 == 0) s_red[threadIdx.x / 32] = v;
  __syncthreads();
  v = s_red[0];
  for (unsigned w = 1; w < blockDim.x / 32; ++w) v = fmaxf(v, s_red[w]);
  return v;
}
__device__ float block_sum(float v, float* s_red) {
  v = warp_sum(v);
  __syncthreads();
  if (threadIdx.x % 32 == 0) s_red[threadIdx.x / 32] = v;
  __syncthreads();
  v = s_red[0];
  for (unsigned w = 1; w < blockDim.x / 32; ++w) v += s_red[w];
  return v;
}

// The reference max for exponentials: a row whose keys are all masked so far has m = −inf; using 0
// then makes exp(s − m) = exp(−inf) = 0 instead of exp(−inf + inf) = NaN.
__device__ __forceinline__ float softmax_ref(float m) { return m == -INFINITY ? 0.0f : m; }

// Number of keys query t sees: all S, or the prefix j <= t + causal_offset.
__device__ __forceinline__ int visible_keys(int t, int S, int causal_offset) {
  return causal_offset < 0 ? S : min(S, t + causal_offset + 1);
}

// The largest dynamic shared memory a launch of `kernel` may ask for on the current device (the
// opt-in limit minus the kernel's static shared memory).
template <typename Kernel>
size_t max_dynamic_smem(Kernel* kernel) {
  int dev = 0, optin = 0;
  CUDA_CHECK(cudaGetDevice(&dev));
  CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  cudaFuncAttributes attr{};
  CUDA_CHECK(cudaFuncGetAttributes(&attr, kernel));
  return static_cast<size_t>(optin) - attr.sharedSizeBytes;
}

// ---- 1. Naive: one block per (query, head) ------------------------------------------------------------

constexpr int kNaiveThreads = 256;

// grid (T·H): block `row` = t·H + h. Dynamic shared memory: sQ[Dh], sP[S].
__global__ void __launch_bounds__(kNaiveThreads)
attention_cuda_naive(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                     float* __restrict__ out, int S, int H, int Hkv, int Dh, float scale, int causal_offset) {
  extern __shared__ __align__(16) float smem[];
  __shared__ float s_red[kNaiveThreads / 32];
  float* sQ = smem;       // (Dh)
  float* sP = smem + Dh;  // (S) scores, then probabilities
  const int row = blockIdx.x, t = row / H, h = row % H, g = h / (H / Hkv);
  const int n = visible_keys(t, S, causal_offset);
  const int64_t kv_row = static_cast<int64_t>(Hkv) * Dh;  // floats between consecutive keys

  for (int d = threadIdx.x; d < Dh; d += kNaiveThreads) sQ[d] = q[static_cast<int64_t>(row) * Dh + d];
  __syncthreads();

  // s_j = scale · q·k_j, one key per thread at a time.
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < n; j += kNaiveThreads) {
    const float* kj = k + j * kv_row + g * Dh;
    float dot = 0.0f;
    for (int d = 0; d < Dh; ++d) dot = fmaf(sQ[d], kj[d], dot);
    sP[j] = dot * scale;
    mx = fmaxf(mx, sP[j]);
  }
  mx = softmax_ref(block_max(mx, s_red));

  // p_j = exp(s_j − max) in place (each thread rewrites the entries it wrote), and their sum.
  float sum = 0.0f;
  for (int j = threadIdx.x; j < n; j += kNaiveThreads) {
    sP[j] = expf(sP[j] - mx);
    sum += sP[j];
  }
  sum = block_sum(sum, s_red);  // ends with __syncthreads: every p_j is visible

  // out[d] = Σ_j p_j v_j[d] / sum, one thread per d (consecutive d: coalesced rows of v).
  for (int d = threadIdx.x; d < Dh; d += kNaiveThreads) {
    const float* vd = v + g * Dh + d;
    float acc = 0.0f;
    for (int j = 0; j < n; ++j) acc = fmaf(sP[j], vd[j * kv_row], acc);
    out[static_cast<int64_t>(row) * Dh + d] = sum > 0.0f ? acc / sum : 0.0f;
  }
}

void launch_naive(const float* q, const float* k, const float* v, float* out, int T, int S, int H, int Hkv,
                  int Dh, float scale, int causal_offset) {
  static const size_t max_smem = [] {
    const size_t m = max_dynamic_smem(attention_cuda_naive);
    CUDA_CHECK(cudaFuncSetAttribute(attention_cuda_naive, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(m)));
    return m;
  }();
  const size_t smem = sizeof(float) * (static_cast<size_t>(S) + Dh);
  if (smem > max_smem)
    fail_internal("attention (cuda, Naive): S=%d keys and Dh=%d need %zu bytes of shared memory, the device "
                  "allows %zu (use Flash or SplitK)", S, Dh, smem, max_smem);
  attention_cuda_naive<<<static_cast<unsigned>(T) * H, kNaiveThreads, smem, stream()>>>(q, k, v, out, S, H, Hkv,
                                                                                       Dh, scale, causal_offset);
  CUDA_CHECK_LAUNCH();
}

// ---- 2. Flash: query tiles × key tiles, online softmax --------------------------------------------------

constexpr int kBr = 64;                     // queries per block (Q_i)
constexpr int kBc = 64;                     // keys per tile (K_j, V_j)
constexpr int kFlashThreads = 128;          // 8 row groups × 16 lanes
constexpr int kRowsPerThread = kBr / 8;     // 8: thread (tr, tc) owns rows tr, tr + 8, ..., tr + 56
constexpr int kKeysPerThread = kBc / 16;    // 4: and keys tc, tc + 16, tc + 32, tc + 48 of S_ij

// Shared memory of one Flash block, in floats. Q and K rows are padded by 4 floats: the row stride is
// then an odd number of 16-byte units, so the 8 lanes of a quarter-warp reading float4s from 8
// consecutive K rows hit 8 different bank groups.
template <int DH_PAD>
struct FlashSmem {
  static constexpr int kQkStride = DH_PAD + 4;
  static constexpr int kPStride = kBc + 4;
  static constexpr int kQ = kBr * kQkStride;   // sQ (Br, DH_PAD + 4)
  static constexpr int kK = kBc * kQkStride;   // sK (Bc, DH_PAD + 4)
  static constexpr int kV = kBc * DH_PAD;      // sV (Bc, DH_PAD)
  static constexpr int kP = kBr * kPStride;    // sP (Br, Bc + 4)
  static constexpr size_t kBytes = sizeof(float) * (kQ + kK + kV + kP);
  static_assert(DH_PAD % 16 == 0 && (kQkStride / 4) % 2 == 1, "padding keeps float4 reads conflict-free");
};

// The Flash block's three steps per key tile, each run by all kFlashThreads threads; thread (tr, tc) owns
// rows tr + 8i of the query tile and keys tc + 16j of the key tile (columns tc + 16c of O_i).

// S_ij = Q_i K_jᵀ for rows tr + 8i and keys tc + 16j, four d at a time.
template <int DH_PAD>
__device__ __forceinline__ void flash_scores(const float* sQ, const float* sK, int tr, int tc,
                                             float (&s)[kRowsPerThread][kKeysPerThread]) {
  using L = FlashSmem<DH_PAD>;
  const float4* sQ4 = reinterpret_cast<const float4*>(sQ);
  const float4* sK4 = reinterpret_cast<const float4*>(sK);
#pragma unroll
  for (int i = 0; i < kRowsPerThread; ++i)
#pragma unroll
    for (int j = 0; j < kKeysPerThread; ++j) s[i][j] = 0.0f;
#pragma unroll 2
  for (int d4 = 0; d4 < DH_PAD / 4; ++d4) {
    float4 kk[kKeysPerThread];
#pragma unroll
    for (int j = 0; j < kKeysPerThread; ++j) kk[j] = sK4[(tc + 16 * j) * (L::kQkStride / 4) + d4];
#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i) {
      const float4 qq = sQ4[(tr + 8 * i) * (L::kQkStride / 4) + d4];
#pragma unroll
      for (int j = 0; j < kKeysPerThread; ++j) {
        s[i][j] = fmaf(qq.x, kk[j].x, s[i][j]);
        s[i][j] = fmaf(qq.y, kk[j].y, s[i][j]);
        s[i][j] = fmaf(qq.z, kk[j].z, s[i][j]);
        s[i][j] = fmaf(qq.w, kk[j].w, s[i][j]);
      }
    }
  }
}

// Online softmax over the tile of keys from k0: m_new = max(m_i, rowmax S_ij), P̃_ij = exp(S_ij − m_new)
// into sP, ℓ_i = e^(m_i − m_new) ℓ_i + rowsum P̃_ij, O_i = e^(m_i − m_new) O_i (P̃_ij V_j is added next).
// Keys past a row's limit are masked only in tiles that cross the first query's limit or S (mask_tile).
template <int DH_PAD>
__device__ __forceinline__ void flash_softmax(float (&s)[kRowsPerThread][kKeysPerThread], float* sP, int tr, int tc,
                                              int q0, int k0, bool mask_tile, int S, float scale, int causal_offset,
                                              float (&m)[kRowsPerThread], float (&l)[kRowsPerThread],
                                              float (&o)[kRowsPerThread][DH_PAD / 16]) {
  using L = FlashSmem<DH_PAD>;
#pragma unroll
  for (int i = 0; i < kRowsPerThread; ++i) {
    const int t = q0 + tr + 8 * i;
    float tile_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < kKeysPerThread; ++j) {
      s[i][j] *= scale;
      if (mask_tile && k0 + tc + 16 * j >= visible_keys(t, S, causal_offset)) s[i][j] = -INFINITY;
      tile_max = fmaxf(tile_max, s[i][j]);
    }
    const float m_new = fmaxf(m[i], half_warp_max(tile_max));
    const float m_ref = softmax_ref(m_new);
    const float alpha = expf(m[i] - m_ref);  // 0 while m_i is −inf (then ℓ_i and O_i are 0 anyway)
    m[i] = m_new;
    float p_sum = 0.0f;
#pragma unroll
    for (int j = 0; j < kKeysPerThread; ++j) {
      const float p = expf(s[i][j] - m_ref);
      sP[(tr + 8 * i) * L::kPStride + tc + 16 * j] = p;
      p_sum += p;
    }
    l[i] = l[i] * alpha + p_sum;
#pragma unroll
    for (int c = 0; c < DH_PAD / 16; ++c) o[i][c] *= alpha;
  }
}

// O_i += P̃_ij V_j: four keys at a time (one float4 of P̃ per row), columns tc + 16c.
template <int DH_PAD>
__device__ __forceinline__ void flash_accumulate(const float* sP, const float* sV, int tr, int tc,
                                                 float (&o)[kRowsPerThread][DH_PAD / 16]) {
  using L = FlashSmem<DH_PAD>;
  constexpr int kCols = DH_PAD / 16;
  const float4* sP4 = reinterpret_cast<const float4*>(sP);
#pragma unroll 1
  for (int c4 = 0; c4 < kBc; c4 += 4) {
    float p[kRowsPerThread][4];
#pragma unroll
    for (int i = 0; i < kRowsPerThread; ++i) {
      const float4 pp = sP4[((tr + 8 * i) * L::kPStride + c4) / 4];
      p[i][0] = pp.x;
      p[i][1] = pp.y;
      p[i][2] = pp.z;
      p[i][3] = pp.w;
    }
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      float vv[kCols];
#pragma unroll
      for (int c = 0; c < kCols; ++c) vv[c] = sV[(c4 + e) * DH_PAD + tc + 16 * c];
#pragma unroll
      for (int i = 0; i < kRowsPerThread; ++i)
#pragma unroll
        for (int c = 0; c < kCols; ++c) o[i][c] = fmaf(p[i][e], vv[c], o[i][c]);
    }
  }
}

// grid (ceil(T / Br), H), block kFlashThreads, dynamic shared memory FlashSmem<DH_PAD>::kBytes.
// __launch_bounds__ asks for 2 resident blocks (≤ 255 registers a thread): without the second argument
// ptxas for sm_90 capped DH_PAD = 80 at 128 registers and spilled.
template <int DH_PAD>
__global__ void __launch_bounds__(kFlashThreads, 2)
attention_cuda_flash(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                     float* __restrict__ out, int T, int S, int H, int Hkv, int Dh, float scale,
                     int causal_offset) {
  using L = FlashSmem<DH_PAD>;
  constexpr int kCols = DH_PAD / 16;  // columns of O_i per thread: tc, tc + 16, ...
  extern __shared__ __align__(16) float smem[];
  float* sQ = smem;          // (Br, DH_PAD + 4)  Q_i, zero-padded rows and columns
  float* sK = sQ + L::kQ;    // (Bc, DH_PAD + 4)  K_j
  float* sV = sK + L::kK;    // (Bc, DH_PAD)      V_j
  float* sP = sV + L::kV;    // (Br, Bc + 4)      P̃_ij

  const int h = blockIdx.y, g = h / (H / Hkv);
  const int q0 = (gridDim.x - 1 - blockIdx.x) * kBr;  // last query tile first: under causal it is the longest
  const int tr = threadIdx.x / 16, tc = threadIdx.x % 16;
  const int64_t q_row = static_cast<int64_t>(H) * Dh, kv_row = static_cast<int64_t>(Hkv) * Dh;

  for (int i = threadIdx.x; i < kBr * DH_PAD; i += kFlashThreads) {
    const int r = i / DH_PAD, d = i % DH_PAD, t = q0 + r;
    sQ[r * L::kQkStride + d] = (t < T && d < Dh) ? q[t * q_row + h * Dh + d] : 0.0f;
  }

  // Keys [0, kv_end) are visible to some query of the tile; keys [0, kv_full) to all of them.
  const int kv_end = visible_keys(min(q0 + kBr, T) - 1, S, causal_offset);
  const int kv_full = visible_keys(q0, S, causal_offset);

  float m[kRowsPerThread], l[kRowsPerThread], o[kRowsPerThread][kCols];
#pragma unroll
  for (int i = 0; i < kRowsPerThread; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;  // this lane's share of ℓ_i (its own keys); the 16 lanes are summed at the end
#pragma unroll
    for (int c = 0; c < kCols; ++c) o[i][c] = 0.0f;
  }

  for (int k0 = 0; k0 < kv_end; k0 += kBc) {
    __syncthreads();  // the previous tile's sK, sV, sP are consumed (first tile: sQ is written)
    for (int i = threadIdx.x; i < kBc * DH_PAD; i += kFlashThreads) {
      const int c = i / DH_PAD, d = i % DH_PAD, j = k0 + c;
      const bool in = j < S && d < Dh;  // zeros past S: their p is 0, and 0 · 0 stays 0 (no stale NaN)
      sK[c * L::kQkStride + d] = in ? k[j * kv_row + g * Dh + d] : 0.0f;
      sV[c * DH_PAD + d] = in ? v[j * kv_row + g * Dh + d] : 0.0f;
    }
    __syncthreads();
    float s[kRowsPerThread][kKeysPerThread];
    flash_scores<DH_PAD>(sQ, sK, tr, tc, s);
    flash_softmax<DH_PAD>(s, sP, tr, tc, q0, k0, k0 + kBc > kv_full, S, scale, causal_offset, m, l, o);
    __syncwarp();  // a row of sP is written and read only by its own half-warp
    flash_accumulate<DH_PAD>(sP, sV, tr, tc, o);
  }

  // out = O_i / ℓ_i (ℓ_i summed over the row's 16 lanes; 0 when no key was visible).
#pragma unroll
  for (int i = 0; i < kRowsPerThread; ++i) {
    const float row_sum = half_warp_sum(l[i]);
    const int t = q0 + tr + 8 * i;
    if (t >= T) continue;
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int d = tc + 16 * c;
      if (d < Dh) out[t * q_row + h * Dh + d] = row_sum > 0.0f ? o[i][c] / row_sum : 0.0f;
    }
  }
}

template <int DH_PAD>
void launch_flash(const float* q, const float* k, const float* v, float* out, int T, int S, int H, int Hkv, int Dh,
                  float scale, int causal_offset) {
  constexpr size_t kBytes = FlashSmem<DH_PAD>::kBytes;
  static const bool smem_configured = [] {
    const size_t max_smem = max_dynamic_smem(attention_cuda_flash<DH_PAD>);
    if (kBytes > max_smem)
      fail_internal("attention (cuda, Flash): Dh padded to %d needs %zu bytes of shared memory, the device allows %zu",
                    DH_PAD, kBytes, max_smem);
    CUDA_CHECK(cudaFuncSetAttribute(attention_cuda_flash<DH_PAD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(kBytes)));
    return true;
  }();
  (void)smem_configured;
  if (H > 65535) fail_internal("attention (cuda, Flash): H=%d heads exceed the grid's y limit 65535", H);
  const dim3 grid(blocks_for(T, kBr), static_cast<unsigned>(H));
  attention_cuda_flash<DH_PAD><<<grid, kFlashThreads, kBytes, stream()>>>(q, k, v, out, T, S, H, Hkv, Dh, scale,
                                                                           causal_offset);
  CUDA_CHECK_LAUNCH();
}

// ---- 3. SplitK: key chunks across blocks, then a combine kernel -------------------------------------------

constexpr int kSplitKeys = 128;    // keys per chunk
constexpr int kSplitThreads = 128;
constexpr int kSplitWarps = kSplitThreads / 32;
constexpr int kSplitKMinKeys = 256;  // Auto: SplitK for T = 1 from this many keys on

// grid (T·H, n_split): block (row = t·H + h, chunk s) covers keys [s·kSplitKeys, (s+1)·kSplitKeys) ∩ the
// keys row t sees, and writes part_ml[row, s] = (m, ℓ) and part_acc[row, s, :] = Σ_j e^(s_j − m) v_j.
// An empty chunk (all masked) writes (−inf, 0) and zeros.
__global__ void __launch_bounds__(kSplitThreads)
attention_cuda_split_k(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                       int S, int H, int Hkv, int Dh, float scale, int causal_offset, int n_split,
                       float* __restrict__ part_ml, float* __restrict__ part_acc) {
  __shared__ float sQ[kMaxDh];
  __shared__ float sP[kSplitKeys];
  __shared__ float sAcc[kSplitWarps][kMaxDh];
  __shared__ float s_red[kSplitWarps];
  const int row = blockIdx.x, split = blockIdx.y, t = row / H, h = row % H, g = h / (H / Hkv);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int j0 = split * kSplitKeys;
  const int n = max(0, min(j0 + kSplitKeys, visible_keys(t, S, causal_offset)) - j0);  // keys of this chunk
  const int64_t kv_row = static_cast<int64_t>(Hkv) * Dh;

  for (int d = threadIdx.x; d < Dh; d += kSplitThreads) sQ[d] = q[static_cast<int64_t>(row) * Dh + d];
  __syncthreads();

  // s_c = scale · q·k_(j0+c): one warp per key, lanes across d (coalesced rows of k).
  for (int c = warp; c < n; c += kSplitWarps) {
    const float* kj = k + (j0 + c) * kv_row + g * Dh;
    float dot = 0.0f;
    for (int d = lane; d < Dh; d += 32) dot = fmaf(sQ[d], kj[d], dot);
    dot = warp_sum(dot);
    if (lane == 0) sP[c] = dot * scale;
  }
  __syncthreads();

  float mx = -INFINITY;
  for (int c = threadIdx.x; c < n; c += kSplitThreads) mx = fmaxf(mx, sP[c]);
  mx = block_max(mx, s_red);  // −inf for an empty chunk
  const float m_ref = softmax_ref(mx);
  float sum = 0.0f;
  for (int c = threadIdx.x; c < n; c += kSplitThreads) {
    sP[c] = expf(sP[c] - m_ref);
    sum += sP[c];
  }
  sum = block_sum(sum, s_red);  // ends with __syncthreads: every p_c is visible

  // acc[d] = Σ_c p_c v_c[d]: warp w takes keys c ≡ w (mod 4), lane takes d = lane + 32u; then the four
  // warps' sums are added in shared memory.
  float acc[kMaxDh / 32];
#pragma unroll
  for (int u = 0; u < kMaxDh / 32; ++u) acc[u] = 0.0f;
  for (int c = warp; c < n; c += kSplitWarps) {
    const float p = sP[c];
    const float* vj = v + (j0 + c) * kv_row + g * Dh;
#pragma unroll
    for (int u = 0; u < kMaxDh / 32; ++u)
      if (lane + 32 * u < Dh) acc[u] = fmaf(p, vj[lane + 32 * u], acc[u]);
  }
#pragma unroll
  for (int u = 0; u < kMaxDh / 32; ++u)
    if (lane + 32 * u < Dh) sAcc[warp][lane + 32 * u] = acc[u];
  __syncthreads();

  const int64_t part = static_cast<int64_t>(row) * n_split + split;
  for (int d = threadIdx.x; d < Dh; d += kSplitThreads) {
    float a = 0.0f;
    for (int w = 0; w < kSplitWarps; ++w) a += sAcc[w][d];
    part_acc[part * Dh + d] = a;
  }
  if (threadIdx.x == 0) {
    part_ml[2 * part] = mx;
    part_ml[2 * part + 1] = sum;
  }
}

constexpr int kCombineThreads = 128;

// grid (T·H): out[row, d] = Σ_s e^(m_s − M) acc_s[d] / Σ_s e^(m_s − M) ℓ_s with M = max_s m_s. Empty
// chunks have m_s = −inf, so their weight e^(−inf − M) is 0; a row with no visible key writes 0.
__global__ void __launch_bounds__(kCombineThreads)
attention_cuda_split_k_combine(const float* __restrict__ part_ml, const float* __restrict__ part_acc,
                               float* __restrict__ out, int Dh, int n_split) {
  const int64_t row = blockIdx.x;
  const float* ml = part_ml + row * n_split * 2;  // (n_split, 2)
  float M = -INFINITY;
  for (int s = 0; s < n_split; ++s) M = fmaxf(M, ml[2 * s]);
  const float m_ref = softmax_ref(M);
  float L = 0.0f;
  for (int s = 0; s < n_split; ++s) L += expf(ml[2 * s] - m_ref) * ml[2 * s + 1];
  for (int d = threadIdx.x; d < Dh; d += kCombineThreads) {
    float a = 0.0f;
    for (int s = 0; s < n_split; ++s) a += expf(ml[2 * s] - m_ref) * part_acc[(row * n_split + s) * Dh + d];
    out[row * Dh + d] = L > 0.0f ? a / L : 0.0f;
  }
}

void launch_split_k(const float* q, const float* k, const float* v, float* out, int T, int S, int H, int Hkv, int Dh,
                    float scale, int causal_offset) {
  const int n_split = static_cast<int>(blocks_for(S, kSplitKeys));
  if (n_split > 65535)
    fail_internal("attention (cuda, SplitK): S=%d keys make %d chunks, over the grid's y limit 65535", S, n_split);
  const int64_t rows = static_cast<int64_t>(T) * H;
  float* part_ml = static_cast<float*>(workspace(sizeof(float) * rows * n_split * (2 + Dh)));  // (rows, n_split, 2)
  float* part_acc = part_ml + rows * n_split * 2;                                            // (rows, n_split, Dh)
  attention_cuda_split_k<<<dim3(static_cast<unsigned>(rows), n_split), kSplitThreads, 0, stream()>>>(
      q, k, v, S, H, Hkv, Dh, scale, causal_offset, n_split, part_ml, part_acc);
  CUDA_CHECK_LAUNCH();
  attention_cuda_split_k_combine<<<static_cast<unsigned>(rows), kCombineThreads, 0, stream()>>>(part_ml, part_acc,
                                                                                               out, Dh, n_split);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void attention_raw(const float* q, const float* k, const float* v, float* out, int64_t T, int64_t S, int64_t H,
                   int64_t Hkv, int64_t Dh, float scale, int64_t causal_offset, AttentionAlgo algo) {
  // Preconditions. Sizes go to the kernels as int: T·H rows and S keys are kept below 2^30.
  constexpr int64_t kMaxSize = int64_t{1} << 30;
  if (T < 0 || S < 0 || H < 1 || Hkv < 1 || Dh < 1 || H % Hkv != 0 || T > kMaxSize || S > kMaxSize ||
      T * H > kMaxSize || Dh > kMaxSize)
    fail_internal("attention (cuda): bad sizes T=%lld S=%lld H=%lld Hkv=%lld Dh=%lld (need T, S >= 0, H a multiple "
                  "of Hkv >= 1, Dh >= 1, T·H and S below 2^30)",
                  static_cast<long long>(T), static_cast<long long>(S), static_cast<long long>(H),
                  static_cast<long long>(Hkv), static_cast<long long>(Dh));
  if (T == 0) return;
  if (!q || !out || (S > 0 && (!k || !v))) fail_internal("attention (cuda): null device pointer");
  if (S == 0) {  // no key is visible to any query: the output is 0
    CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(float) * T * H * Dh, stream()));
    return;
  }
  // An offset that lets query 0 see key S-1 lets every query see every key: non-causal.
  const int offset = (causal_offset < 0 || causal_offset >= S - 1) ? -1 : static_cast<int>(causal_offset);

  if (algo == AttentionAlgo::Auto) {
    if (Dh > kMaxDh) algo = AttentionAlgo::Naive;
    else if (T == 1 && S >= kSplitKMinKeys) algo = AttentionAlgo::SplitK;
    else algo = AttentionAlgo::Flash;
  }
  if ((algo == AttentionAlgo::Flash || algo == AttentionAlgo::SplitK) && Dh > kMaxDh)
    fail_internal("attention (cuda, %s): head dim Dh=%lld above the supported %d", algo_name(algo),
                  static_cast<long long>(Dh), kMaxDh);

  const int t = static_cast<int>(T), s = static_cast<int>(S), h = static_cast<int>(H), hkv = static_cast<int>(Hkv),
            dh = static_cast<int>(Dh);
  switch (algo) {
    case AttentionAlgo::Naive: launch_naive(q, k, v, out, t, s, h, hkv, dh, scale, offset); break;
    case AttentionAlgo::SplitK: launch_split_k(q, k, v, out, t, s, h, hkv, dh, scale, offset); break;
    default:
      if (Dh <= 64) launch_flash<64>(q, k, v, out, t, s, h, hkv, dh, scale, offset);
      else if (Dh <= 80) launch_flash<80>(q, k, v, out, t, s, h, hkv, dh, scale, offset);
      else launch_flash<128>(q, k, v, out, t, s, h, hkv, dh, scale, offset);
      break;
  }
}

const char* algo_name(AttentionAlgo a) {
  switch (a) {
    case AttentionAlgo::Auto: return "Auto";
    case AttentionAlgo::Naive: return "Naive";
    case AttentionAlgo::Flash: return "Flash";
    case AttentionAlgo::SplitK: return "SplitK";
  }
  return "?";
}

size_t attention_decode_workspace_bytes(int64_t S, int64_t H, int64_t Dh) {
  const int64_t n_split = ceil_div<int64_t>(S, kSplitKeys);
  return sizeof(float) * static_cast<size_t>(H * n_split * (2 + Dh));
}

void attention_load_kernels() {
  // With lazy module loading (the default since CUDA 12.2) a kernel is loaded at its first launch,
  // which older drivers cannot do inside a stream capture: load the decode kernels up front.
  cudaFuncAttributes attributes;
  CUDA_CHECK(cudaFuncGetAttributes(&attributes, attention_cuda_split_k));
  CUDA_CHECK(cudaFuncGetAttributes(&attributes, attention_cuda_split_k_combine));
}

}  // namespace tl::cuda
