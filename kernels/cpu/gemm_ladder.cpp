// kernels/cpu/gemm_ladder.cpp — the study rungs of the GEMM ladder (gemm.h): plain C++ compiled for
// baseline x86-64, each one idea away from the one before, each tested against kernels/ref. The
// engine runs the later rungs (gemm_driver.h); these show why those are built the way they are.
#include <algorithm>
#include <vector>

#include "kernels/cpu/gemm.h"

namespace tl::cpu {

namespace {

// w[n][k] as F32 (exact), one element at a time.
inline float weight_at(const void* w, DType wt, int64_t K, int64_t n, int64_t k) {
  const int64_t i = n * K + k;
  switch (wt) {
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(w)[i]);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(w)[i]);
    default: return static_cast<const float*>(w)[i];
  }
}

// Row n, inputs [k0, k0 + kb) of w as F32.
void weight_row(const void* w, DType wt, int64_t K, int64_t n, int64_t k0, int64_t kb, float* dst) {
  convert_to_f32(static_cast<const char*>(w) + (n * K + k0) * static_cast<int64_t>(dtype_size(wt)), wt, dst,
                 static_cast<size_t>(kb));
}

void fill_bias(const float* bias, float* y, int64_t T, int64_t N, int64_t n_begin, int64_t n_end) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = n_begin; n < n_end; ++n) y[t * N + n] = bias ? bias[n] : 0.0f;
}

}  // namespace

// 1. naive: the definition. Every weight is converted where it is read, T times over; the inner sum is
// one serial chain of dependent adds.
void gemm_naive(const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y, int64_t N,
                int64_t n_begin, int64_t n_end) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = n_begin; n < n_end; ++n) {
      float s = bias ? bias[n] : 0.0f;
      for (int64_t k = 0; k < K; ++k) s += x[t * K + k] * weight_at(w, wt, K, n, k);
      y[t * N + n] = s;
    }
}

// 2. loop order: weight row outermost, converted once and kept in L1 while every row of x passes over
// it. Loses when K·4 bytes of x rows no longer fit the cache: x is re-read from memory per weight row.
void gemm_loop_order(const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y,
                     int64_t N, int64_t n_begin, int64_t n_end) {
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t n = n_begin; n < n_end; ++n) {
    weight_row(w, wt, K, n, 0, K, row.data());
    for (int64_t t = 0; t < T; ++t) {
      float s = bias ? bias[n] : 0.0f;
      for (int64_t k = 0; k < K; ++k) s += x[t * K + k] * row[k];
      y[t * N + n] = s;
    }
  }
}

// 3. cache blocking: a 64-column × 256-input block of converted weights (64 KB, in L2) serves every
// row of x, whose 256-input slice (1 KB) stays in L1. Still one dependent add chain per output.
void gemm_cache_blocked(const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y,
                        int64_t N, int64_t n_begin, int64_t n_end) {
  constexpr int64_t kKB = 256;
  std::vector<float> block(static_cast<size_t>(kStudyPanel * kKB));
  fill_bias(bias, y, T, N, n_begin, n_end);
  for (int64_t n0 = n_begin; n0 < n_end; n0 += kStudyPanel) {
    const int64_t nb = std::min(kStudyPanel, n_end - n0);
    for (int64_t k0 = 0; k0 < K; k0 += kKB) {
      const int64_t kb = std::min(kKB, K - k0);
      for (int64_t j = 0; j < nb; ++j) weight_row(w, wt, K, n0 + j, k0, kb, &block[j * kKB]);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < nb; ++j) {
          float s = 0.0f;
          for (int64_t k = 0; k < kb; ++k) s += x[t * K + k0 + k] * block[j * kKB + k];
          y[t * N + n0 + j] += s;
        }
    }
  }
}

// 4. packing: the block stored K-major (panel[k][j] = w[n0 + j][k0 + k]), so one row of y takes
// x[t][k]·panel[k][:] as outer products: 64 independent sums the compiler vectorizes. The row of y
// lives in memory (L1) between steps; the next rung keeps a tile of it in registers.
void gemm_packed(const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y, int64_t N,
                 int64_t n_begin, int64_t n_end) {
  constexpr int64_t kKB = 256;
  std::vector<float> panel(static_cast<size_t>(kKB * kStudyPanel)), row(kKB);
  fill_bias(bias, y, T, N, n_begin, n_end);
  for (int64_t n0 = n_begin; n0 < n_end; n0 += kStudyPanel) {
    const int64_t nb = std::min(kStudyPanel, n_end - n0);
    for (int64_t k0 = 0; k0 < K; k0 += kKB) {
      const int64_t kb = std::min(kKB, K - k0);
      std::fill(panel.begin(), panel.end(), 0.0f);
      for (int64_t j = 0; j < nb; ++j) {
        weight_row(w, wt, K, n0 + j, k0, kb, row.data());
        for (int64_t k = 0; k < kb; ++k) panel[k * kStudyPanel + j] = row[k];
      }
      for (int64_t t = 0; t < T; ++t) {
        float acc[kStudyPanel] = {};
        for (int64_t k = 0; k < kb; ++k) {
          const float a = x[t * K + k0 + k];
          const float* p = &panel[k * kStudyPanel];
          for (int64_t j = 0; j < kStudyPanel; ++j) acc[j] += a * p[j];
        }
        for (int64_t j = 0; j < nb; ++j) y[t * N + n0 + j] += acc[j];
      }
    }
  }
}

}  // namespace tl::cpu
