// kernels/cpu/isa_avx2.cpp — isa_kernels.inc compiled for avx2 (flags set in CMakeLists.txt).
#define TL_ISA_NAME avx2
#define TL_VEC_BYTES 32
#define TL_GEMM_MR 6
#define TL_GEMM_NV 2
#include "kernels/cpu/isa_kernels.inc"

const tl::cpu::IsaKernels* tl::cpu::isa_avx2() { return &kTable; }
