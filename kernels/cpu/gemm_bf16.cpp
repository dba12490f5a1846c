// kernels/cpu/gemm_bf16.cpp — the reduced-precision GEMM of `--precision bf16`, on AVX512_BF16.
//
// y[T, N] = bf16(x)[T, K] · bf16(W)[N, K]ᵀ + b, products exact and sums in F32 (vdpbf16ps). Both
// operands are rounded to bfloat16 (8 significant bits, round to nearest even): activations once per
// call, weights per packed panel (F16 weights lose their 3 lowest mantissa bits). Error bound: each
// product carries ≤ 2·2⁻⁹ relative error, so |y - y_f32| ≲ 2⁻⁸·Σ|x·w| — measured end to end in
// tests/model/test_precision.cpp.
//
// Layout: vdpbf16ps multiplies pairs of bf16 along K, so activations are kept as K/2 32-bit pairs
// per row and each weight panel as [K/2][64 columns][2]; the micro-tile is 6 rows × 64 columns
// (24 zmm accumulators), like the F32 kernel's.
//
// Compiled only into AVX-512 builds of this file; gemm_bf16_available() says whether this CPU has it.
#include "kernels/cpu/gemm_bf16.h"

#include "kernels/cpu/cpu_features.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace tl::cpu {

namespace {

constexpr int kMR = 6;     // rows per register tile
constexpr int kNB = 64;    // columns per panel (4 zmm of 16 floats)
constexpr int kKB = 512;   // inputs per panel (256 pairs)

// 16 floats -> 16 bf16, round to nearest even (NaN stays NaN).
inline __m256i to_bf16(__m512 v) { return (__m256i)_mm512_cvtneps_pbh(v); }

// Rows [0, T) of x as bf16 pairs: a[t][p] = bf16(x[t][2p]) | bf16(x[t][2p+1]) << 16, K padded to even.
void pack_activations(const float* x, int64_t T, int64_t K, uint32_t* a, int64_t kp) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * K;
    uint16_t* ar = reinterpret_cast<uint16_t*>(a + t * kp);
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) _mm256_storeu_si256(reinterpret_cast<__m256i*>(ar + k), to_bf16(_mm512_loadu_ps(xr + k)));
    for (; k < 2 * kp; ++k) ar[k] = k < K ? f32_to_bf16(xr[k]) : 0;
  }
}

// Panel of columns [n0, n0 + nb) and inputs [k0, k0 + kb) (kb even, or the end of K) as
// bp[p][j] = pair (k0 + 2p, k0 + 2p + 1) of column j, zero-padded to kNB columns.
void pack_panel(const void* w, DType wt, int64_t K, int64_t n0, int64_t nb, int64_t k0, int64_t kb, uint32_t* bp,
                float* row) {
  const int64_t pairs = (kb + 1) / 2;
  const size_t esize = dtype_size(wt);
  for (int64_t j = 0; j < kNB; ++j) {
    if (j >= nb) {
      for (int64_t p = 0; p < pairs; ++p) bp[p * kNB + j] = 0;
      continue;
    }
    const char* src = static_cast<const char*>(w) + ((n0 + j) * K + k0) * static_cast<int64_t>(esize);
    if (wt == DType::BF16) {
      const uint16_t* s = reinterpret_cast<const uint16_t*>(src);
      for (int64_t p = 0; p < pairs; ++p) {
        uint32_t lo = s[2 * p], hi = 2 * p + 1 < kb ? s[2 * p + 1] : 0;
        bp[p * kNB + j] = lo | (hi << 16);
      }
      continue;
    }
    isa().to_f32(src, wt, row, kb);
    row[kb] = 0.0f;  // pad an odd K
    // The bf16 row, read as 32-bit words, is already the sequence of pairs (2p, 2p + 1).
    uint16_t* pairs16 = reinterpret_cast<uint16_t*>(row + kKB + 2);
    int64_t k = 0;
    for (; k + 16 <= 2 * pairs; k += 16)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(pairs16 + k), to_bf16(_mm512_loadu_ps(row + k)));
    for (; k < 2 * pairs; ++k) pairs16[k] = f32_to_bf16(row[k]);
    const uint32_t* words = reinterpret_cast<const uint32_t*>(pairs16);
    for (int64_t p = 0; p < pairs; ++p) bp[p * kNB + j] = words[p];
  }
}

template <int MR>
void micro_tile(const uint32_t* a, int64_t kp, const uint32_t* bp, int64_t pairs, float* y, int64_t N, int64_t nb) {
  __m512 acc[MR][4];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < 4; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < pairs; ++p) {
    __m512bh b[4];
    for (int v = 0; v < 4; ++v) b[v] = (__m512bh)_mm512_loadu_si512(bp + p * kNB + v * 16);
    for (int i = 0; i < MR; ++i) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[i * kp + p]));
      for (int v = 0; v < 4; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], av, b[v]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    float* yr = y + i * N;
    if (nb == kNB) {  // a whole panel: add the vectors in place
      for (int v = 0; v < 4; ++v) _mm512_storeu_ps(yr + v * 16, _mm512_add_ps(_mm512_loadu_ps(yr + v * 16), acc[i][v]));
      continue;
    }
    float tile[kNB];
    for (int v = 0; v < 4; ++v) _mm512_storeu_ps(tile + v * 16, acc[i][v]);
    for (int64_t j = 0; j < nb; ++j) yr[j] += tile[j];
  }
}

template <int MR>
void micro_tail(int mr, const uint32_t* a, int64_t kp, const uint32_t* bp, int64_t pairs, float* y, int64_t N, int64_t nb) {
  if constexpr (MR > 0) {
    if (mr == MR) return micro_tile<MR>(a, kp, bp, pairs, y, N, nb);
    micro_tail<MR - 1>(mr, a, kp, bp, pairs, y, N, nb);
  }
}

}  // namespace

bool gemm_bf16_available() {
  const CpuFeatures& f = cpu_features();
  return f.has_avx512() && f.avx512_bf16;
}

int64_t bf16_pairs(int64_t K) { return (K + 1) / 2; }

void pack_activations_bf16(const float* x, int64_t T, int64_t K, uint32_t* a) {
  pack_activations(x, T, K, a, bf16_pairs(K));
}

void gemm_bf16(const uint32_t* a, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y, int64_t N,
               int64_t n_begin, int64_t n_end) {
  const int64_t kp = bf16_pairs(K);
  // GotoBLAS order, as the F32 kernel: kNC columns packed per kKB slice, each 6-row strip of the
  // activations sweeps all of them.
  constexpr int64_t kNC = 512;
  thread_local std::vector<uint32_t> panels;
  thread_local std::vector<float> row;
  panels.resize(static_cast<size_t>(kKB / 2 * kNC));
  row.resize(kKB + 2 + kKB / 2 + 16);  // F32 row (+ pad), then its bf16 pairs
  for (int64_t nc0 = n_begin; nc0 < n_end; nc0 += kNC) {
    const int64_t ncl = std::min<int64_t>(kNC, n_end - nc0);
    const int64_t blocks = (ncl + kNB - 1) / kNB;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < ncl; ++j) y[t * N + nc0 + j] = bias ? bias[nc0 + j] : 0.0f;
    for (int64_t k0 = 0; k0 < K; k0 += kKB) {
      const int64_t kb = std::min<int64_t>(kKB, K - k0), pairs = (kb + 1) / 2;
      for (int64_t b = 0; b < blocks; ++b)
        pack_panel(w, wt, K, nc0 + b * kNB, std::min<int64_t>(kNB, ncl - b * kNB), k0, kb, &panels[b * (kKB / 2) * kNB],
                   row.data());
      for (int64_t t0 = 0; t0 < T; t0 += kMR) {
        const int mr = static_cast<int>(std::min<int64_t>(kMR, T - t0));
        for (int64_t b = 0; b < blocks; ++b)
          micro_tail<kMR>(mr, a + t0 * kp + k0 / 2, kp, &panels[b * (kKB / 2) * kNB], pairs, y + t0 * N + nc0 + b * kNB,
                          N, std::min<int64_t>(kNB, ncl - b * kNB));
      }
    }
  }
}

}  // namespace tl::cpu
