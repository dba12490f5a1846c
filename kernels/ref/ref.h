// kernels/ref/ref.h — the specification of every kernel: plain loops, fp32 in and out, fp64
// accumulation, no SIMD, no threads, no tricks. kernels/cpu (and later kernels/cuda) are tested against
// these on random data (tests/kernels/), and `tinyllava dump --ref` runs the whole model on them.
//
// Conventions for all ops (see kernels/ops.h for the public contract):
//   activations are contiguous F32 CPU tensors; weights may be F32, F16 or BF16 (converted exactly);
//   Linear weights are [N, K] (PyTorch's [out, in]); y = x·Wᵀ + b.
#pragma once

#include "kernels/types.h"
#include "tensor/tensor.h"

namespace tl::ref {

void matmul(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);
void layernorm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y);
void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& y);
void gelu_tanh(Tensor& x);
void gelu_erf(Tensor& x);
void silu(Tensor& x);
void silu_mul(const Tensor& gate_up, Tensor& out);
void add(Tensor& y, const Tensor& x);
void rope(Tensor& x, int64_t pos0, const ops::RopeTable& table);
void attention(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, float scale, int64_t causal_offset);
void patch_embed(const Tensor& pixels, const Tensor& w, const Tensor& b, Tensor& out);
void embed(const Tensor& table, const int* ids, int64_t n, Tensor& out);

}  // namespace tl::ref
