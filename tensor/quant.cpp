// tensor/quant.cpp — Q8/Q4 quantization and exact dequantization (contract in quant.h).
#include "tensor/quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/arith.h"
#include "tensor/error.h"

namespace tl {

int64_t quant_groups(int64_t K) { return ceil_div<int64_t>(K, kQuantGroup); }

int64_t quant_row_bytes(DType t, int64_t K) {
  const int64_t padded = quant_groups(K) * kQuantGroup;
  if (t == DType::Q8) return padded;
  if (t == DType::Q4) return padded / 2;
  fail_internal("quant_row_bytes: %s is not a quantized dtype", dtype_name(t));
}

DType quant_code_dtype(DType t) {
  if (t == DType::Q8) return DType::I8;
  if (t == DType::Q4) return DType::U8;
  fail_internal("quant_code_dtype: %s is not a quantized dtype", dtype_name(t));
}

namespace {

// Round half away from zero, then clamp to [lo, hi].
int code(float v, int lo, int hi) { return std::clamp(static_cast<int>(std::lround(v)), lo, hi); }

void quantize_group(DType t, const float* w, int64_t n, uint8_t* codes, uint16_t* scale) {
  float m = 0;  // the value of largest magnitude (the first of equal ones)
  for (int64_t i = 0; i < n; ++i)
    if (std::fabs(w[i]) > std::fabs(m)) m = w[i];
  const uint16_t d16 = m == 0.0f ? 0 : f32_to_f16(t == DType::Q8 ? std::fabs(m) / 127.0f : m / -8.0f);
  const float d = f16_to_f32(d16);
  const float inv = d != 0.0f ? 1.0f / d : 0.0f;
  *scale = d16;
  float v[kQuantGroup] = {};
  std::copy(w, w + n, v);
  if (t == DType::Q8) {
    for (int64_t i = 0; i < kQuantGroup; ++i)
      codes[i] = static_cast<uint8_t>(static_cast<int8_t>(code(v[i] * inv, -127, 127)));
    return;
  }
  for (int64_t i = 0; i < kQuantGroup / 2; ++i) {
    const int lo = code(v[i] * inv, -8, 7) + 8, hi = code(v[i + kQuantGroup / 2] * inv, -8, 7) + 8;
    codes[i] = static_cast<uint8_t>(lo | hi << 4);
  }
}

}  // namespace

void quantize_row(DType t, const float* w, int64_t K, void* codes, uint16_t* scales) {
  const int64_t group_bytes = quant_row_bytes(t, kQuantGroup);
  uint8_t* c = static_cast<uint8_t*>(codes);
  for (int64_t g = 0; g < quant_groups(K); ++g)
    quantize_group(t, w + g * kQuantGroup, std::min(kQuantGroup, K - g * kQuantGroup), c + g * group_bytes, scales + g);
}

void quantize_activations(const float* x, int64_t K, int8_t* xq, float* dx) {
  for (int64_t g = 0; g < quant_groups(K); ++g) {
    float v[kQuantGroup] = {};
    const int64_t n = std::min(kQuantGroup, K - g * kQuantGroup);
    std::copy(x + g * kQuantGroup, x + g * kQuantGroup + n, v);
    float m = 0;
    for (float a : v) m = std::max(m, std::fabs(a));
    dx[g] = m / 127.0f;
    const float inv = m != 0.0f ? 127.0f / m : 0.0f;
    for (int64_t i = 0; i < kQuantGroup; ++i)
      xq[g * kQuantGroup + i] = static_cast<int8_t>(std::clamp(std::nearbyint(v[i] * inv), -127.0f, 127.0f));
  }
}

void weight_slice_to_f32(const Tensor& w, int64_t n, int64_t k0, int64_t kb, float* dst) {
  const int64_t K = w.shape[1];
  TL_CHECK(w.ndim == 2 && n >= 0 && n < w.shape[0] && k0 >= 0 && kb >= 0 && k0 + kb <= K);
  if (!is_quantized(w.dtype)) {
    const size_t es = dtype_size(w.dtype);
    return convert_to_f32(static_cast<const char*>(w.data) + (n * K + k0) * static_cast<int64_t>(es), w.dtype, dst,
                          static_cast<size_t>(kb));
  }
  TL_CHECK(k0 % kQuantGroup == 0 && w.scales);
  const uint8_t* row = static_cast<const uint8_t*>(w.data) + n * quant_row_bytes(w.dtype, K);
  const uint16_t* s = w.scales + n * quant_groups(K);
  for (int64_t i = 0; i < kb; ++i) {
    const int64_t k = k0 + i, g = k / kQuantGroup, j = k % kQuantGroup;
    const float d = f16_to_f32(s[g]);
    if (w.dtype == DType::Q8) {
      dst[i] = d * static_cast<float>(static_cast<int8_t>(row[k]));
    } else {
      const uint8_t b = row[g * (kQuantGroup / 2) + j % (kQuantGroup / 2)];
      const int q = j < kQuantGroup / 2 ? (b & 15) : (b >> 4);
      dst[i] = d * static_cast<float>(q - 8);
    }
  }
}

}  // namespace tl
