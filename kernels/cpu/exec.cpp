// kernels/cpu/exec.cpp — resolving an ISA ceiling against this CPU (contract in exec.h).
#include "kernels/cpu/exec.h"

#include <unistd.h>

#include "kernels/cpu/gemv_vnni.h"

namespace tl::cpu {

Exec make_exec(IsaCap cap, bool bf16, Team team) {
  Exec e;
  e.isa = &best_isa(cap);
  const bool bf16_allowed = cap == IsaCap::Auto || cap >= IsaCap::Avx512;
  e.bf16 = bf16 && bf16_allowed && gemm_bf16_available();
  const bool amx_allowed = cap == IsaCap::Auto || cap == IsaCap::Amx;
  e.bf16_kernel = amx_allowed && amx_ready() ? Bf16Kernel::Amx : Bf16Kernel::Dot;
  e.bf16_kc = bf16_slice_inputs(::sysconf(_SC_LEVEL1_DCACHE_SIZE));
  e.int8_gemv = e.bf16 && gemv_vnni_available();
  e.team = team;
  return e;
}

}  // namespace tl::cpu
