// kernels/cpu/isa_avx512.cpp — isa_kernels.inc compiled for avx512 (flags set in CMakeLists.txt).
#define TL_ISA_NAME avx512
#define TL_VEC_BYTES 64
#define TL_GEMM_MR 6
#define TL_GEMM_NV 4
#include "kernels/cpu/isa_kernels.inc"

const tl::cpu::IsaKernels* tl::cpu::isa_avx512() { return &kTable; }
