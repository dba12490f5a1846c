// kernels/cpu/exec.h — how the CPU kernels run: one explicit value, made by the engine from its options
// (kernels/ops.h Context) and passed with every call. Nothing in kernels/cpu reads a global mode.
#pragma once

#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/threads.h"

namespace tl::cpu {

struct Exec {
  IsaCap cap = IsaCap::Auto;             // the ceiling it was made for (bench measures its peaks under it)
  const IsaKernels* isa = &best_isa();   // F32 GEMM, attention and element-wise loops
  bool bf16 = false;                     // large products (T >= 4) and attention on bf16 operands
  Bf16Kernel bf16_kernel = Bf16Kernel::Dot;  // the bf16 GEMM micro-kernel, when bf16
  int64_t bf16_kc = 256;                 // the Dot kernel's K slice, from this CPU's caches (below)
  bool int8_gemv = false;                // with bf16: Q8/Q4 decode GEMVs on int8 activations (gemv_vnni.h)
  Team team;                             // who runs each parallel region
};

// The Exec for an ISA ceiling: the best table under it, bf16 only when asked for and the ceiling and
// CPU allow it (avx512 or higher with AVX512_BF16), AMX only under auto/amx on a CPU where it is ready;
// the blocking that depends on the microarchitecture from its cache sizes.
Exec make_exec(IsaCap cap, bool bf16, Team team);
// The bf16 Dot kernel's K slice (gemm_bf16.h) for this CPU's caches (bytes; <= 0 unknown): a
// 128·kc-byte panel within a third of L2, else within two thirds of L1d.
int64_t bf16_slice_inputs(int64_t l1d_bytes, int64_t l2_bytes);

}  // namespace tl::cpu
