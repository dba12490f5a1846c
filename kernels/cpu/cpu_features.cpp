// kernels/cpu/cpu_features.cpp — CPUID leaves 1 and 7, gated on the register state the OS enables
// (XCR0): YMM for AVX2, opmask/ZMM for AVX-512, tile state for AMX.
#include "kernels/cpu/cpu_features.h"

#include <cpuid.h>

#include <cstdint>

namespace tl::cpu {

namespace {

uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27);
  const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6, tiles = (xcr0 & 0x60000) == 0x60000;
  f.fma = ymm && (c & (1u << 12));
  f.f16c = ymm && (c & (1u << 29));
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = ymm && (b & (1u << 5));
    f.avx512f = zmm && (b & (1u << 16));
    f.avx512dq = zmm && (b & (1u << 17));
    f.avx512bw = zmm && (b & (1u << 30));
    f.avx512_vnni = zmm && (c & (1u << 11));
    f.avx512vl = zmm && (b & (1u << 31));
    f.amx_bf16 = tiles && (d & (1u << 22));
    f.amx_tile = tiles && (d & (1u << 24));
    unsigned a1, b1, c1, d1;
    if (a >= 1 && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) {
      f.avx_vnni = ymm && (a1 & (1u << 4));
      f.avx512_bf16 = zmm && (a1 & (1u << 5));
    }
  }
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

}  // namespace tl::cpu
