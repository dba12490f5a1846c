// kernels/cpu/transpose_avx512.h — a 16 × 16 transpose of 32-bit elements in AVX-512 registers, for
// packing GEMM panels (one row of weights in, one K step of a panel out). Included only by files
// compiled for AVX-512; `static` so that each keeps its own copy under its own flags.
#pragma once

#if !defined(__AVX512F__)
#error "transpose_avx512.h needs AVX-512F"
#endif

#include <immintrin.h>

namespace tl::cpu {

// 16 rows of 16 words -> 16 columns: r[j][p] becomes r[p][j] (unpacks within 128-bit lanes, then
// 128-bit lane shuffles).
static inline void transpose16x16(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // u[4i + c], lane L: column 4L + c of rows 4i .. 4i + 3
    u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int c = 0; c < 4; ++c) {
    const __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88), v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xDD);
    const __m512i w0 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88), w1 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xDD);
    r[c] = _mm512_shuffle_i32x4(v0, w0, 0x88);
    r[4 + c] = _mm512_shuffle_i32x4(v1, w1, 0x88);
    r[8 + c] = _mm512_shuffle_i32x4(v0, w0, 0xDD);
    r[12 + c] = _mm512_shuffle_i32x4(v1, w1, 0xDD);
  }
}

}  // namespace tl::cpu
