// kernels/cpu/cpu_features.h — what this CPU (and the OS) support, read once with CPUID/XGETBV.
// Portable across GCC and clang (whose __builtin_cpu_supports know different feature names).
#pragma once

namespace tl::cpu {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512_bf16 = false;
  bool amx_tile = false, amx_bf16 = false;
  bool avx512_vnni = false, avx_vnni = false;  // int8 dot products (vpdpbusd on zmm / on ymm)

  bool has_avx2_fma_f16c() const { return avx2 && fma && f16c; }
  bool has_avx512() const { return avx512f && avx512bw && avx512vl && avx512dq && fma && f16c; }
};

const CpuFeatures& cpu_features();

}  // namespace tl::cpu
