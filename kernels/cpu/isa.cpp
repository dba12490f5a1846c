// kernels/cpu/isa.cpp — choose the best compiled kernel table this CPU supports (see isa.h).
#include "kernels/cpu/isa.h"

#include "kernels/cpu/cpu_features.h"

#include <cstring>

namespace tl::cpu {

namespace {

constexpr const char* kCapNames[] = {"auto", "generic", "avx2", "avx512", "amx"};

}  // namespace

bool parse_isa_cap(const char* name, IsaCap* cap) {
  for (int i = 0; i < 5; ++i)
    if (!std::strcmp(name, kCapNames[i])) {
      *cap = static_cast<IsaCap>(i);
      return true;
    }
  return false;
}

const char* isa_cap_name(IsaCap cap) { return kCapNames[static_cast<int>(cap)]; }

const IsaKernels& best_isa(IsaCap cap) {
  const CpuFeatures& f = cpu_features();
  const bool avx512 = isa_allows(cap, IsaCap::Avx512), avx2 = isa_allows(cap, IsaCap::Avx2);
  if (avx512 && f.has_avx512() && isa_avx512()) return *isa_avx512();
  if (avx2 && f.has_avx2_fma_f16c() && isa_avx2()) return *isa_avx2();
  return *isa_generic();
}

std::vector<const IsaKernels*> runnable_isa_tables() {
  const CpuFeatures& f = cpu_features();
  std::vector<const IsaKernels*> v = {isa_generic()};
  if (f.has_avx2_fma_f16c() && isa_avx2()) v.push_back(isa_avx2());
  if (f.has_avx512() && isa_avx512()) v.push_back(isa_avx512());
  return v;
}

}  // namespace tl::cpu
