// kernels/cpu/isa.cpp — choose the best compiled kernel table this CPU supports (see isa.h).
#include "kernels/cpu/isa.h"

#include "kernels/cpu/cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace tl::cpu {

namespace {

const IsaKernels* choose() {
  const char* cap = std::getenv("TINYLLAVA_ISA");
  auto allowed = [&](const char* name) {
    if (!cap || !*cap) return true;
    const char* order[] = {"generic", "avx2", "avx512"};
    int want = -1, have = -1;
    for (int i = 0; i < 3; ++i) {
      if (!std::strcmp(cap, order[i])) want = i;
      if (!std::strcmp(name, order[i])) have = i;
    }
    return want < 0 || have <= want;
  };
  const CpuFeatures& f = cpu_features();
  if (allowed("avx512") && f.has_avx512())
    if (const IsaKernels* k = isa_avx512()) return k;
  if (allowed("avx2") && f.has_avx2_fma_f16c())
    if (const IsaKernels* k = isa_avx2()) return k;
  return isa_generic();
}

}  // namespace

std::vector<const IsaKernels*> runnable_isa_tables() {
  const CpuFeatures& f = cpu_features();
  std::vector<const IsaKernels*> v = {isa_generic()};
  if (f.has_avx2_fma_f16c() && isa_avx2()) v.push_back(isa_avx2());
  if (f.has_avx512() && isa_avx512()) v.push_back(isa_avx512());
  return v;
}

const IsaKernels& isa() {
  static const IsaKernels* k = choose();
  return *k;
}

}  // namespace tl::cpu
