// kernels/cpu/ops_cpu.h — the CPU implementation of the ops in kernels/ops.h, called only by the
// dispatch (kernels/ops.cpp), which has checked shapes and dtypes: same names, same contracts, plus
// the Exec that says which ISA table, precision and threads to use. Tensors are CPU tensors.
//
// Numerics: F32 throughout; GEMM and dot products accumulate in F32 (with FMA where the CPU has it),
// row statistics (norm means and variances, softmax sums) in F64; e.bf16 as stated in ops.h.
#pragma once

#include <cstdint>

#include "kernels/cpu/exec.h"
#include "kernels/types.h"
#include "tensor/tensor.h"

namespace tl::cpu {

void matmul(const Exec& e, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);
void layernorm(const Exec& e, const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y);
void rmsnorm(const Exec& e, const Tensor& x, const Tensor& w, float eps, Tensor& y);
void gelu_tanh(const Exec& e, Tensor& x);
void gelu_erf(const Exec& e, Tensor& x);
void silu(const Exec& e, Tensor& x);
void silu_mul(const Exec& e, const Tensor& gate_up, Tensor& out);
void add(const Exec& e, Tensor& y, const Tensor& x);
void rope(const Exec& e, Tensor& x, int64_t pos0, const ops::RopeTable& table);
// attention(e, q, k, v, out, scale, causal_offset): kernels/cpu/attention.h
void patch_embed(const Exec& e, const Tensor& pixels, const Tensor& w, const Tensor& b, Tensor& out);
void embed(const Exec& e, const Tensor& table, const int* ids, int64_t n, Tensor& out);
void copy(const Tensor& src, Tensor& dst);
// A head-major KV cache layer [Hkv, capacity, Dh] (ops.h): rows[T, Hkv, Dh] written at pos0, positions
// [0, n) copied to another layer, or the first S positions gathered into a position-major F32
// out[S, Hkv, Dh] (the reference attention's input).
void kv_write(const Exec& e, const Tensor& rows, Tensor& cache, int64_t pos0);
void kv_copy(const Tensor& src, Tensor& dst, int64_t n);
void kv_gather(const Tensor& cache, int64_t S, Tensor& out);
void convert(const Exec& e, const Tensor& src, Tensor& dst);
void copy_columns(const Tensor& src, int64_t col0, Tensor& dst);
int64_t argmax(const Tensor& x);

}  // namespace tl::cpu
