// kernels/cpu/exec.cpp — resolving an ISA ceiling against this CPU (contract in exec.h).
#include "kernels/cpu/exec.h"

#include <unistd.h>

#include "kernels/cpu/gemv_vnni.h"

namespace tl::cpu {

int64_t bf16_slice_inputs(int64_t l1d_bytes, int64_t l2_bytes) {
  // L2 panels: the largest slice whose panel (128·KC bytes) takes at most a third of L2, leaving the
  // rest to the next slice's prefetched weights and the outputs: 1 MiB (Zen 4, Zen 5) -> 2304,
  // 2 MiB (Sapphire Rapids) -> 4608, 512 KiB -> 1152.
  for (int64_t kc : {4608, 2304, 1152}) if (128 * kc * 3 <= l2_bytes) return kc;
  // L1 panels (small or unknown L2): the largest slice whose panel fills at most two thirds of L1d:
  // 48 KiB -> 256, 32 KiB -> 128. Unknown sizes keep 256.
  if (l1d_bytes <= 0) return 256;
  for (int64_t kc : {512, 256}) if (128 * kc * 3 <= 2 * l1d_bytes) return kc;
  return 128;
}

Exec make_exec(IsaCap cap, bool bf16, Team team) {
  Exec e;
  e.cap = cap;
  e.isa = &best_isa(cap);
  e.bf16 = bf16 && isa_allows(cap, IsaCap::Avx512) && gemm_bf16_available();
  e.bf16_kernel = isa_allows(cap, IsaCap::Amx) && amx_ready() ? Bf16Kernel::Amx : Bf16Kernel::Dot;
  e.bf16_kc = bf16_slice_inputs(::sysconf(_SC_LEVEL1_DCACHE_SIZE), ::sysconf(_SC_LEVEL2_CACHE_SIZE));
  e.int8_gemv = e.bf16 && gemv_vnni_available();
  e.team = team;
  return e;
}

}  // namespace tl::cpu
