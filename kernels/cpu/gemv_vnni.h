// kernels/cpu/gemv_vnni.h — the decode GEMV on Q8/Q4 weights with int8 activations (AVX512_VNNI).
//
// y[n] = bias[n] + Σ_g dw[n][g]·dx[g]·Σ_{k in g} xq[k]·(q[n][k] − o), o = 0 (Q8) or 8 (Q4), where
// the activation row is quantized once per call per group of 32 (tensor/quant.h
// quantize_activations: dx = max|x| / 127, xq = x·(127 / max|x|) rounded to nearest even). The
// integer products and their per-group sums are exact (vpdpbusd: four u8 × s8 products into an
// int32 lane); each group's sum is scaled in F32. The only approximation against the F32 GEMV is
// xq's rounding: ≤ dx/2 per activation, so |y − y_f32| ≤ Σ_g |dw·dx|/2 · Σ_k |q − o| — tested in
// tests/kernels/test_quant.cpp against that reference, end to end in tests/model/test_precision.cpp.
//
// The reduced-precision decode of `--precision bf16` (the default where the CPU has AVX512_BF16) on
// quantized checkpoints; the exact `--precision f32` keeps the F32 GEMV (quant.inc).
//
// vpdpbusd multiplies unsigned by signed bytes. Q4 codes are unsigned already: one instruction per
// 64 codes against xq, and −8·Σxq per group folded into the group's scale term. Q8 codes are
// signed: the product runs as |xq| (unsigned) times the codes negated where xq < 0 (one masked
// subtract, masks precomputed per call), which is exact since codes stay within [−127, 127].
// Q4's 32 code bytes per two groups unpack in registers to [lo A | lo B | hi A | hi B], and xq is
// stored in that order, so no shuffle of the codes is needed.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/quant.h"

namespace tl::cpu {

bool gemv_vnni_available();  // compiled in, and this CPU has AVX512_VNNI with AVX-512 BW/VL

// One activation row prepared for Q8 or Q4 weights (once, by one thread), then read by every thread's
// row range.
class VnniActivations {
 public:
  VnniActivations(const float* x, int64_t K, DType wt);
  // y[n] = bias[n] + x·W[n] for n in [n_begin, n_end), W [N, K] of the dtype given above.
  void rows(const QuantMatrix& w, const float* bias, float* y, int64_t n_begin, int64_t n_end) const;

 private:
  int64_t K_;
  DType wt_;
  std::vector<int8_t> xq_;     // [chunks × 64]: Q8 |xq| (read as u8), Q4 xq in unpack order
  std::vector<uint64_t> neg_;  // [chunks] Q8: bit i set where xq[64c + i] < 0
  std::vector<float> dxv_, cv_;  // [chunks × 16] lane patterns
};

}  // namespace tl::cpu
