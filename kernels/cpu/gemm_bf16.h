// kernels/cpu/gemm_bf16.h — the bfloat16 GEMMs of `--precision bf16` (see gemm_bf16.cpp): the
// vdpbf16ps register tile (AVX512_BF16) and AMX tiles (TDPBF16PS), both micro-kernels of the one
// driver (gemm_driver.h), plus the AMX kernel with its tile instructions emulated (tests only).
//
// Numerics: both operands rounded to bfloat16 (round to nearest even; F16 weights lose their 3 lowest
// mantissa bits), each product exact, sums in F32 in the kernel's order (AMX: another order), so
// |y - y_f32| ≲ 2⁻⁸·Σ|x·w|; tests/model/test_precision.cpp measures it end to end.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace tl::cpu {

enum class Bf16Kernel { Dot, Amx, AmxEmulated };

bool gemm_bf16_available();  // this CPU has AVX512_BF16 (and the build has the kernels)
// Whether AMX runs here (CPU has AMX-BF16, the OS granted the tile state, the self-test passed), and a
// few words saying why or why not.
bool amx_ready();
const char* amx_status();
constexpr int64_t kBf16PanelColumns = 64;  // the panel width of every bf16 kernel

// Activations as bf16 pairs: a holds T rows of bf16_pairs(K, kernel) 32-bit words (AMX pads K to
// whole 16-pair tiles).
int64_t bf16_pairs(int64_t K, Bf16Kernel kernel);
void pack_activations_bf16(const float* x, int64_t T, int64_t K, uint32_t* a, Bf16Kernel kernel);

// y[t, n] = bias[n] + Σ_k a[t, k]·bf16(w[n, k]) for n in [n_begin, n_end) (as IsaKernels::gemm), with
// activations packed for the same kernel.
// kc: inputs per K slice of the Dot kernel: 128, 256, 512 (panels in L1d, blocks of 512 columns) or
// 1152, 2304, 4608 (one panel per 64-column block, in L2); bf16_slice_inputs() chooses per CPU.
void gemm_bf16(Bf16Kernel kernel, const uint32_t* a, int64_t T, int64_t K, const void* w, DType wt, const float* bias,
               float* y, int64_t N, int64_t n_begin, int64_t n_end, int64_t kc = 256);

}  // namespace tl::cpu
