// kernels/rows.h — the per-row normalizations as the reference computes them (kernels/ref), one value
// at a time. kernels/cpu runs the same formulas and F64 statistics summed in vectors (isa_kernels.inc,
// tested against these). The element formulas are the PyTorch modules' (see kernels/ops.h).
#pragma once

#include <cmath>
#include <cstdint>

namespace tl {

// LayerNorm: (x - mean) / sqrt(var + eps) · w + b, biased variance.
inline void layernorm_row(const float* x, const float* w, const float* b, int64_t D, float eps, float* y) {
  double mean = 0, var = 0;
  for (int64_t i = 0; i < D; ++i) mean += x[i];
  mean /= D;
  for (int64_t i = 0; i < D; ++i) var += (x[i] - mean) * (x[i] - mean);
  const float m = static_cast<float>(mean);
  const float rstd = 1.0f / std::sqrt(static_cast<float>(var / D) + eps);
  for (int64_t i = 0; i < D; ++i) y[i] = (x[i] - m) * rstd * w[i] + b[i];
}

// OpenELMRMSNorm: _norm(x.float()).type_as(x) * weight, i.e. (x · rsqrt(mean(x²) + eps)) rounded to
// F32, then times the weight. y may be x.
inline void rmsnorm_row(const float* x, const float* w, int64_t D, float eps, float* y) {
  double ss = 0;
  for (int64_t i = 0; i < D; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float rs = 1.0f / std::sqrt(static_cast<float>(ss / D) + eps);
  for (int64_t i = 0; i < D; ++i) {
    const float normed = x[i] * rs;
    y[i] = normed * w[i];
  }
}

}  // namespace tl
