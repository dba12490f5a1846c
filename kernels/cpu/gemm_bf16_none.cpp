// kernels/cpu/gemm_bf16_none.cpp — builds whose compiler cannot target AVX512_BF16: no bf16 GEMM;
// `--precision bf16` then runs the F32 kernels (gemm_bf16_available() is false).
#include "kernels/cpu/gemm_bf16.h"

#include "tensor/error.h"

namespace tl::cpu {

bool gemm_bf16_available() { return false; }
bool amx_ready() { return false; }
const char* amx_status() { return "not built (the compiler cannot target AVX512_BF16)"; }
int64_t bf16_pairs(int64_t K, Bf16Kernel) { return (K + 1) / 2; }
void pack_activations_bf16(const float*, int64_t, int64_t, uint32_t*, Bf16Kernel) {
  fail_internal("bf16 GEMM not built");
}
void gemm_bf16(Bf16Kernel, const uint32_t*, int64_t, int64_t, const void*, DType, const float*, float*, int64_t, int64_t,
               int64_t, int64_t) {
  fail_internal("bf16 GEMM not built");
}

}  // namespace tl::cpu
