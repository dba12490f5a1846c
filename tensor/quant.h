// tensor/quant.h — group-quantized weight matrices: the Q8 and Q4 formats, exactly.
//
// A weight matrix [N, K] (a Linear weight, PyTorch's [out_features, in_features]) is cut, row by row,
// into groups of kQuantGroup = 32 consecutive inputs. When 32 does not divide K (SigLIP's 4304) the
// last group of each row is padded with zeros to 32: a row holds Kp = 32·ceil(K/32) codes. Each
// group g of row n has one F16 scale d = scales[n][g]:
//
//   Q8  code q: int8 in [-127, 127]      w = d·q          d = max|w| / 127
//       a row is Kp bytes (I8 in the file)
//   Q4  code q: 4 bits in [0, 15]        w = d·(q − 8)    d = m / −8, m the group's value of largest
//       a row is Kp/2 bytes (U8)         magnitude (m itself maps to code 0, exactly up to d's F16
//       byte i of a group holds          rounding; the others to the nearest of −8 … 7 steps)
//       q[i] | q[i + 16] << 4 (i < 16)
//
// Codes round to nearest (ties away from zero) with d as stored (its F16 value), and saturate (Q4:
// values past 7.5 steps on the side opposite m become 7, an error of up to one step); an all-zero
// group has d = 0 and codes 0 (Q8) or 8 (Q4). w is computed in F32 as f16_to_f32(d) · q,
// which every kernel reproduces exactly before its own summation order. Symmetric formats in the
// family of llama.cpp's Q8_0 / Q4_0 (same group size and rounding intent; our own byte layout:
// codes and scales are separate tensors, so a checkpoint stays plain safetensors — README
// "Quantized checkpoints").
#pragma once

#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/tensor.h"

namespace tl {

constexpr int64_t kQuantGroup = 32;

// A Q8/Q4 matrix as the CPU kernels take it: where a float weight passes its data pointer (with its
// dtype), a quantized one passes a pointer to this.
struct QuantMatrix {
  const uint8_t* codes;    // quant_row_bytes(dtype, K) per row
  const uint16_t* scales;  // F16, quant_groups(K) per row
};

int64_t quant_groups(int64_t K);                 // ceil(K / 32): scales per row
int64_t quant_row_bytes(DType t, int64_t K);     // bytes of codes per row (t Q8 or Q4)
DType quant_code_dtype(DType t);                 // the codes' file dtype: I8 for Q8, U8 for Q4

// Quantizes one row of K floats (finite) into codes (quant_row_bytes) and scales (quant_groups).
void quantize_row(DType t, const float* w, int64_t K, void* codes, uint16_t* scales);

// Row `n`, inputs [k0, k0 + kb) of a weight matrix w ([N, K], any weight dtype) as F32, exactly;
// for Q8/Q4, k0 must be a multiple of kQuantGroup.
void weight_slice_to_f32(const Tensor& w, int64_t n, int64_t k0, int64_t kb, float* dst);

// The int8 activations of the VNNI GEMV (kernels/cpu/gemv_vnni.h), the specification its vector code
// matches bit for bit: per group g of 32 values (the last padded with zeros), m = max|x|,
// dx[g] = m / 127 and xq[k] = nearest-even(x[k] · (127 / m)) (0 when m = 0), all in F32.
// xq and dx hold quant_groups(K) groups.
void quantize_activations(const float* x, int64_t K, int8_t* xq, float* dx);

}  // namespace tl
