// kernels/cpu/gemm.h — the CPU GEMM, y[T, N] = x[T, K]·w[N, K]ᵀ + bias (torch.nn.Linear), threaded,
// and its ladder: every step from the plainest loop to the engine's kernels, each callable by name.
//
// x is F32 row-major, w [N, K] row-major in its stored dtype (F32/F16/BF16, converted exactly), bias F32
// [N] or null, y F32 [T, N]. Threads split the output columns in whole panels of the kernel in use.
//
// The ladder (bench/RESULTS.md has each rung's number; `bench_kernels --benchmark_filter=ladder`):
//   naive            t, n, k loops, each weight converted where it is read       (gemm_ladder.cpp)
//   loop-order       weight row outer: converted once, reused from L1 by every row of x
//   cache-blocked    64 × 64 × 256 blocks: a block of converted weights serves 64 rows from L2
//   packed           weights packed K-major per 64-column panel; one row of y updated by
//                    outer products the compiler vectorizes (SSE2 here)
//   register-tile-*  the one driver (gemm_driver.h) with an MR × NR register tile per ISA
//                    (generic SSE2, AVX2, AVX-512): the engine's F32 path
//   bf16-dot         the same driver with vdpbf16ps on bf16 pairs (AVX512_BF16): `--precision bf16`
//   amx              the same driver with TDPBF16PS tiles (AMX), where the CPU has it
// Numerics: rungs up to register-tile are exact F32 products with F32 sums (in different orders);
// bf16-dot and amx round both operands to bfloat16 (gemm_bf16.cpp states the bound).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/cpu/exec.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/ladder.h"

namespace tl::cpu {

using GemmFn = std::function<void(const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* bias,
                                  float* y, int64_t N)>;

using GemmRung = Rung<GemmFn>;

// The rungs this CPU can run, in ladder order (find one by name with find_rung), threaded over `team`.
std::vector<GemmRung> gemm_ladder(const Team& team = {});

// The engine's GEMM: the F32 register tile of e.isa, or with e.bf16 (and T > kGemvMaxRows)
// e.bf16_kernel. T <= kGemvMaxRows is decode: the table's GEMV (gemv.inc), one weight read for all rows.
void gemm(const Exec& e, const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y,
          int64_t N);
// The F32 GEMM with rows of x produced by `gather` a strip at a time (patch embedding).
void gemm_gather(const Exec& e, GatherRows gather, const void* ctx, int64_t T, int64_t K, const void* w, DType wt,
                 const float* bias, float* y, int64_t N);

// The study rungs (gemm_ladder.cpp), one thread, columns [n_begin, n_end) (as IsaKernels::gemm).
using GemmRange = void (*)(const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* bias,
                           float* y, int64_t N, int64_t n_begin, int64_t n_end);
void gemm_naive(const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y, int64_t N,
                int64_t n_begin, int64_t n_end);
void gemm_loop_order(const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y,
                     int64_t N, int64_t n_begin, int64_t n_end);
void gemm_cache_blocked(const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y,
                        int64_t N, int64_t n_begin, int64_t n_end);
void gemm_packed(const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y, int64_t N,
                 int64_t n_begin, int64_t n_end);
constexpr int64_t kStudyPanel = 64;  // the column block of the study rungs

}  // namespace tl::cpu
