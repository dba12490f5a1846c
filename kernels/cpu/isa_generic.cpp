// kernels/cpu/isa_generic.cpp — isa_kernels.inc compiled for generic (flags set in CMakeLists.txt).
#define TL_ISA_NAME generic
#define TL_VEC_BYTES 16
#define TL_GEMM_MR 4
#define TL_GEMM_NV 2
#include "kernels/cpu/isa_kernels.inc"

const tl::cpu::IsaKernels* tl::cpu::isa_generic() { return &kTable; }
