// kernels/cpu/gemm_bf16.h — bfloat16 GEMM on AVX512_BF16 for `--precision bf16` (see gemm_bf16.cpp).
#pragma once

#include <cstdint>

#include "kernels/cpu/isa.h"

namespace tl::cpu {

bool gemm_bf16_available();  // this CPU has AVX512_BF16 (and the build has the kernel)
// Whether gemm_bf16 runs on AMX tiles (CPU has AMX-BF16, the OS granted the tile state, the self-test
// passed), and a few words saying why or why not.
bool amx_in_use();
const char* amx_status();

// Activations as bf16 pairs: a holds T rows of bf16_pairs(K) 32-bit words (padded for AMX when in use).
int64_t bf16_pairs(int64_t K);
void pack_activations_bf16(const float* x, int64_t T, int64_t K, uint32_t* a);

// y[t, n] = bias[n] + Σ_k a[t, k]·bf16(w[n, k]) for n in [n_begin, n_end) (as IsaKernels::gemm).
void gemm_bf16(const uint32_t* a, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y, int64_t N,
               int64_t n_begin, int64_t n_end);

// For tests on any AVX512_BF16 CPU: the AMX kernel's loops, addresses and padding with the tile
// instructions emulated in scalar code (slow). Activations packed by pack_activations_amx, at
// amx_pairs(K) pairs per row.
int64_t amx_pairs(int64_t K);
void pack_activations_amx(const float* x, int64_t T, int64_t K, uint32_t* a);
void gemm_amx_emulated(const uint32_t* a, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y,
                       int64_t N, int64_t n_begin, int64_t n_end);

}  // namespace tl::cpu
