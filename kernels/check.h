// kernels/check.h — precondition checks shared by every kernel implementation. A failure is an
// internal error naming the op and the offending shapes: the model code must never pass such tensors.
#pragma once

#include "kernels/types.h"
#include "tensor/tensor.h"

namespace tl {

void check_f32(const char* op, const Tensor& x);
void check_same(const char* op, const Tensor& a, const Tensor& b);
void check_matmul(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y);
void check_rowwise(const char* op, const Tensor& x, const Tensor& y, const Tensor* w, const Tensor* b);
void check_silu_mul(const Tensor& gate_up, const Tensor& out);
void check_rope(const Tensor& x, int64_t pos0, const ops::RopeTable& table);
void check_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out);
// KV cache layers (ops.h): head-major [Hkv, capacity, Dh] on the CPU, position-major on CUDA.
void check_kv_write(const Tensor& rows, const Tensor& cache, int64_t pos0);
void check_kv_copy(const Tensor& src, const Tensor& dst, int64_t n);
void check_attention_cached(const Tensor& q, const Tensor& k, const Tensor& v, int64_t S, const Tensor& out);
void check_patch_embed(const Tensor& pixels, const Tensor& w, const Tensor& b, const Tensor& out);
void check_embed(const Tensor& table, const int* ids, int64_t n, const Tensor& out);
void check_copy(const Tensor& src, const Tensor& dst);
void check_convert(const Tensor& src, const Tensor& dst);
void check_copy_columns(const Tensor& src, int64_t col0, const Tensor& dst);

}  // namespace tl
