// kernels/cpu/isa.h — the hot loops, compiled once per instruction set and chosen at run time.
//
// isa_kernels.inc is compiled three times (isa_avx512.cpp, isa_avx2.cpp, isa_generic.cpp) with
// different -m flags; best_isa() returns the best table this CPU supports (AVX-512 -> AVX2+FMA+F16C ->
// generic x86-64) under a ceiling, so the binary runs on any x86-64 CPU. The ceiling is an engine
// option (`--isa`, or TINYLLAVA_ISA read by the command line; exec.h), for testing every path on one
// machine.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/dtype.h"

namespace tl::cpu {

// Fills dst[r][k - k0] (row stride kb) with x[t0 + r][k] for r < rows, k0 <= k < k0 + kb.
using GatherRows = void (*)(const void* ctx, int64_t t0, int64_t rows, int64_t k0, int64_t kb, float* dst);

// Up to this many rows of x, gemm is the GEMV (gemv.inc): each weight row streamed once for all rows,
// every output summed in the same order for any row count. A batched decode step (one row per
// sequence) therefore gives each sequence exactly its single-sequence result, on every path (the bf16
// GEMM only takes larger T).
constexpr int64_t kGemvMaxRows = 8;

struct IsaKernels {
  const char* name;
  int gemm_columns;  // the F32 GEMM's panel width: threads split N in multiples of it
  // y[t, n] = bias[n] + Σ_k x[t, k]·w[n, k] for t < T and n in [n_begin, n_end); w is [N, K] of dtype
  // `wt`, rows contiguous (a `const QuantMatrix*` for Q8/Q4, as weight_slice); bias may be null (then
  // 0); y rows have stride N.
  void (*gemm)(const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y,
               int64_t N, int64_t n_begin, int64_t n_end);
  // gemm with the rows of x produced by `gather` a strip at a time (patch embedding: no im2col buffer).
  void (*gemm_gather)(GatherRows gather, const void* ctx, int64_t T, int64_t K, const void* w, DType wt,
                      const float* bias, float* y, int64_t N, int64_t n_begin, int64_t n_end);
  // Σ a[i]·b[i]
  float (*dot)(const float* a, const float* b, int64_t n);
  // y[i] += a·x[i]
  void (*axpy)(float a, const float* x, float* y, int64_t n);
  // dst[i] = float(src[i])
  void (*to_f32)(const void* src, DType st, float* dst, int64_t n);
  // dst[i] = f16(src[i]), rounded to nearest even (vcvtps2ph where the table has F16C; finite values
  // and infinities as f32_to_f16)
  void (*to_f16)(const float* src, uint16_t* dst, int64_t n);
  // Row n, inputs [k0, k0 + kb) of a [N, K] weight matrix as F32 (exact): w is the data of an
  // F32/F16/BF16 matrix, or a `const QuantMatrix*` (tensor/quant.h) for Q8/Q4, with k0 then a
  // multiple of kQuantGroup. Every GEMM packs its panels through this.
  void (*weight_slice)(const void* w, DType wt, int64_t K, int64_t n, int64_t k0, int64_t kb, float* dst);
  // Attention of the nh query heads that share one KV head, for T queries (query t sees keys
  // j <= t + causal_offset; all S keys when causal_offset < 0). q[t][h] is at q + t·q_row + h·q_head,
  // k[j], v[j] at k/v + j·kv_stride (Dh values each), out like q. Flash-style for T >= 4.
  void (*attention)(const float* q, int64_t T, int64_t q_row, int64_t nh, int64_t q_head, const float* k,
                    const float* v, int64_t kv_stride, int64_t S, int64_t Dh, float scale, int64_t causal_offset,
                    float* out, int64_t out_row, int64_t out_head);
  // The same on bf16 operands (vdpbf16ps; F32 sums and softmax) for `--precision bf16`; nullptr where
  // the table has none (only AVX-512 builds whose compiler targets AVX512_BF16; call it only when the
  // CPU has AVX512_BF16).
  decltype(attention) attention_bf16;
  // attention for T < 4 (decode) reading an F16 cache (k, v as binary16; strides in elements), the
  // values widened exactly: the bf16 path's KV cache (model/openelm.h).
  void (*attention_f16kv)(const float* q, int64_t T, int64_t q_row, int64_t nh, int64_t q_head, const uint16_t* k,
                          const uint16_t* v, int64_t kv_stride, int64_t S, int64_t Dh, float scale,
                          int64_t causal_offset, float* out, int64_t out_row, int64_t out_head);
  void (*gelu_tanh)(float* x, int64_t n);                              // in place
  void (*gelu_erf)(float* x, int64_t n);                               // in place
  void (*silu_mul)(const float* gate, const float* up, float* out, int64_t n);
  // One row of LayerNorm / RMSNorm: kernels/rows.h's formulas and F64 statistics, summed in vectors.
  void (*layernorm_row)(const float* x, const float* w, const float* b, int64_t D, float eps, float* y);
  void (*rmsnorm_row)(const float* x, const float* w, int64_t D, float eps, float* y);  // y may be x
};

// The instruction-set ceiling, one vocabulary everywhere: "auto" (the best this CPU has), "generic"
// (x86-64 SSE2), "avx2" (AVX2 + FMA + F16C), "avx512" (AVX-512, and its AVX512_BF16 kernels where the
// CPU has them), "amx" (AVX-512 and the AMX tiles: the same as auto on an AMX machine).
enum class IsaCap { Auto, Generic, Avx2, Avx512, Amx };
// The cap named `name`; false when the name is none of the above.
bool parse_isa_cap(const char* name, IsaCap* cap);
const char* isa_cap_name(IsaCap cap);
// Whether `cap` lets the engine use instructions of `level` (auto allows everything the CPU has).
constexpr bool isa_allows(IsaCap cap, IsaCap level) { return cap == IsaCap::Auto || cap >= level; }

// The best compiled table this CPU runs, at most `cap`.
const IsaKernels& best_isa(IsaCap cap = IsaCap::Auto);
// Every compiled table this CPU can run, generic first (for tests and ladders that compare them).
std::vector<const IsaKernels*> runnable_isa_tables();
const IsaKernels* isa_generic();
const IsaKernels* isa_avx2();    // nullptr when not compiled in
const IsaKernels* isa_avx512();  // nullptr when not compiled in

}  // namespace tl::cpu
