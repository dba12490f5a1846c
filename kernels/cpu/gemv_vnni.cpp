// kernels/cpu/gemv_vnni.cpp — the int8-activation decode GEMV on Q8/Q4 weights (contract and numerics
// in gemv_vnni.h). Compiled with AVX512_VNNI where the compiler has it (else gemv_vnni_none.cpp).
//
// The activation row is prepared once per call, per chunk c of 64 inputs (groups A = 2c, B = 2c + 1):
//   Q8: |xq| as unsigned bytes, the mask of negative xq, and dxv[c] = [dx_A × 8 lanes | dx_B × 8];
//   Q4: xq in the order [A 0-15 | B 0-15 | A 16-31 | B 16-31] (the order the codes unpack in),
//       dxv[c] = [dx_A × 4 | dx_B × 4 | dx_A × 4 | dx_B × 4] and cv[c] = −dx·Σxq of the lane's group
//       (the −8 offset: 8 lanes × −dx·Σxq = −8·dx·Σxq).
// Then per weight row and chunk: one load of codes, vpdpbusd into a zeroed int32 vector (lane i sums
// the four products of inputs 4i .. 4i + 3, all in one group), and one FMA with the group scales
// [dw_A … | dw_B …] laid out like dxv. A row ends with one horizontal sum.
#include "kernels/cpu/gemv_vnni.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_features.h"

namespace tl::cpu {

namespace {

constexpr int64_t kChunk = 2 * kQuantGroup;  // 64 inputs: one zmm of codes bytes (Q8)
constexpr int64_t kPrefetchBytes = 4096;     // as the F32 GEMV (gemv.inc)

// Lane l of a chunk's 16 int32 lanes belongs to group A (false) or B (true).
bool lane_in_b(DType wt, int l) { return wt == DType::Q8 ? l >= 8 : (l / 4) % 2 == 1; }

}  // namespace

#define TL_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,f16c,fma")))

namespace {

// One group of 32 activations (zero past n) quantized as quantize_activations does, bit for bit: the
// same F32 divisions, and vcvtps2dq rounds to nearest even as nearbyint does in the default mode.
// Returns the codes as 32 int32 lanes in two vectors, and dx.
TL_VNNI_TARGET inline float quantize_group(const float* x, int64_t n, __m512i* lo, __m512i* hi) {
  const __mmask16 m0 = n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);
  const __mmask16 m1 = n >= 32 ? 0xFFFF : n <= 16 ? 0 : static_cast<__mmask16>((1u << (n - 16)) - 1);
  const __m512 a = _mm512_maskz_loadu_ps(m0, x), b = _mm512_maskz_loadu_ps(m1, x + 16);
  const float m = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
  const float inv = m != 0.0f ? 127.0f / m : 0.0f;
  *lo = _mm512_cvtps_epi32(_mm512_mul_ps(a, _mm512_set1_ps(inv)));
  *hi = _mm512_cvtps_epi32(_mm512_mul_ps(b, _mm512_set1_ps(inv)));
  return m / 127.0f;
}

// 32 int32 lanes (values in [-127, 127]) -> 32 bytes (vpmovdb).
TL_VNNI_TARGET inline __m256i bytes_of(__m512i lo, __m512i hi) {
  return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtepi32_epi8(lo)), _mm512_cvtepi32_epi8(hi), 1);
}

// The chunk layouts of gemv_vnni.h from the activation row (scalar code would cost as much as a small
// matrix's GEMV: ~5 µs per 1536 values).
TL_VNNI_TARGET void prepare(const float* x, int64_t K, DType wt, int8_t* xq, uint64_t* neg, float* dxv, float* cv) {
  const int64_t groups = quant_groups(K), chunks = (groups + 1) / 2;
  const __m512i q4_order = _mm512_set_epi64(7, 6, 3, 2, 5, 4, 1, 0);  // 16-byte pieces A0 A1 B0 B1 -> A0 B0 A1 B1
  for (int64_t c = 0; c < chunks; ++c) {
    __m512i v[4];
    float dx[2] = {0.0f, 0.0f};
    int sum[2] = {0, 0};
    for (int g = 0; g < 2; ++g) {
      const int64_t k0 = (2 * c + g) * kQuantGroup;
      if (k0 >= K) {
        v[2 * g] = v[2 * g + 1] = _mm512_setzero_si512();
        continue;
      }
      dx[g] = quantize_group(x + k0, std::min(kQuantGroup, K - k0), &v[2 * g], &v[2 * g + 1]);
      sum[g] = _mm512_reduce_add_epi32(_mm512_add_epi32(v[2 * g], v[2 * g + 1]));
    }
    // 64 codes in input order: A 0-31, B 0-31 (vpmovdb: the values already lie in [-127, 127]).
    const __m512i bytes = _mm512_inserti64x4(_mm512_castsi256_si512(bytes_of(v[0], v[1])), bytes_of(v[2], v[3]), 1);
    if (wt == DType::Q8) {
      neg[c] = _mm512_movepi8_mask(bytes);
      _mm512_storeu_si512(xq + c * kChunk, _mm512_abs_epi8(bytes));
    } else {
      _mm512_storeu_si512(xq + c * kChunk, _mm512_permutexvar_epi64(q4_order, bytes));
    }
    for (int l = 0; l < 16; ++l) {
      const int g = lane_in_b(wt, l) ? 1 : 0;
      dxv[c * 16 + l] = dx[g];
      cv[c * 16 + l] = wt == DType::Q4 ? -dx[g] * static_cast<float>(sum[g]) : 0.0f;
    }
  }
}

}  // namespace

VnniActivations::VnniActivations(const float* x, int64_t K, DType wt) : K_(K), wt_(wt) {
  const int64_t chunks = (quant_groups(K) + 1) / 2;
  xq_.resize(static_cast<size_t>(chunks * kChunk));
  neg_.assign(static_cast<size_t>(chunks), 0);
  dxv_.resize(static_cast<size_t>(chunks * 16));
  cv_.resize(static_cast<size_t>(chunks * 16));
  prepare(x, K, wt, xq_.data(), neg_.data(), dxv_.data(), cv_.data());
}

namespace {

// The 16 lanes' weight scales [dw_A | dw_B] in the lane layout of `wt`, from two F16 scales (one when
// `one`: the last, odd group; B's lanes then 0).
__attribute__((target("avx512f,f16c"))) inline __m512 weight_scales(const uint16_t* s, bool one, DType wt) {
  const uint32_t bits = one ? s[0] : static_cast<uint32_t>(s[0]) | static_cast<uint32_t>(s[1]) << 16;
  const __m128 two = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(bits)));
  const __m512i idx = wt == DType::Q8 ? _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0)
                                      : _mm512_set_epi32(1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(two));
}

// One chunk's integer dot products per lane: `codes` points at its codes; `half` when only group A
// exists (the row's last, odd group: only its bytes are read).
template <DType WT>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) inline __m512i chunk_dot(const uint8_t* codes,
                                                                                          const int8_t* xq, uint64_t neg,
                                                                                          bool half) {
  const __m512i x = _mm512_loadu_si512(xq);
  if constexpr (WT == DType::Q8) {
    const __m512i w = half ? _mm512_maskz_loadu_epi8(0xFFFFFFFFull, codes) : _mm512_loadu_si512(codes);
    const __m512i signed_w = _mm512_mask_sub_epi8(w, neg, _mm512_setzero_si512(), w);  // w·sign(xq)
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), x, signed_w);
  } else {
    const __m256i v = half ? _mm256_maskz_loadu_epi8(0xFFFFu, codes)
                           : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes));
    const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1);
    const __m512i nibbles = _mm512_and_si512(both, _mm512_set1_epi8(0x0F));  // [lo A | lo B | hi A | hi B]
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), nibbles, x);
  }
}

// acc += (the chunk's dot products · dx (+ Q4's offset term)) · the weight scales.
template <DType WT>
TL_VNNI_TARGET inline __m512 chunk_step(const uint8_t* codes, const int8_t* xq, uint64_t neg, const float* dxv,
                                        const float* cv, const uint16_t* scales, bool half, __m512 acc) {
  const __m512i dot = chunk_dot<WT>(codes, xq, neg, half);
  __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(dot), _mm512_loadu_ps(dxv));
  if constexpr (WT == DType::Q4) t = _mm512_add_ps(t, _mm512_loadu_ps(cv));
  return _mm512_fmadd_ps(t, weight_scales(scales, half, WT), acc);
}

template <DType WT>
TL_VNNI_TARGET void quantized_rows(const int8_t* xq, const uint64_t* neg, const float* dxv, const float* cv, int64_t K,
                                   const QuantMatrix& w, const float* bias, float* y, int64_t n_begin, int64_t n_end) {
  const int64_t groups = quant_groups(K), full = groups / 2, group_bytes = quant_row_bytes(WT, kQuantGroup);
  const int64_t row_bytes = groups * group_bytes, chunk_bytes = 2 * group_bytes;
  for (int64_t n = n_begin; n < n_end; ++n) {
    const uint8_t* r = w.codes + n * row_bytes;
    const uint16_t* s = w.scales + n * groups;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
#define TL_CHUNK(c, half, acc)                                                                                 \
  acc = chunk_step<WT>(r + (c) * chunk_bytes, xq + (c) * kChunk, neg[c], dxv + (c) * 16, cv + (c) * 16, s + 2 * (c), \
                       half, acc)
    int64_t c = 0;
    for (; c + 2 <= full; c += 2) {
      for (int64_t b = 0; b < 2 * chunk_bytes; b += 64)
        _mm_prefetch(reinterpret_cast<const char*>(r + c * chunk_bytes + kPrefetchBytes + b), _MM_HINT_T0);
      TL_CHUNK(c, false, acc0);
      TL_CHUNK(c + 1, false, acc1);
    }
    if (c < full) {
      TL_CHUNK(c, false, acc0);
      ++c;
    }
    if (groups % 2) TL_CHUNK(c, true, acc1);
#undef TL_CHUNK
    y[n] = (bias ? bias[n] : 0.0f) + _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  }
}

}  // namespace

bool gemv_vnni_available() {
  const CpuFeatures& f = cpu_features();
  return f.avx512_vnni && f.has_avx512();
}

void VnniActivations::rows(const QuantMatrix& w, const float* bias, float* y, int64_t n_begin, int64_t n_end) const {
  if (wt_ == DType::Q8)
    return quantized_rows<DType::Q8>(xq_.data(), neg_.data(), dxv_.data(), cv_.data(), K_, w, bias, y, n_begin, n_end);
  quantized_rows<DType::Q4>(xq_.data(), neg_.data(), dxv_.data(), cv_.data(), K_, w, bias, y, n_begin, n_end);
}

}  // namespace tl::cpu
