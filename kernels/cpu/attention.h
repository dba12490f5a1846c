// kernels/cpu/attention.h — CPU attention (the contract of ops::attention: q[T,H,Dh], k/v[S,Hkv,Dh],
// grouped KV heads, causal offset), threaded over KV heads (each head's query rows cut into runs of
// equal work when the heads do not divide among the threads), and its ladder: each rung callable by name.
//
// The ladder (bench/RESULTS.md; `bench_kernels --benchmark_filter=ladder/attention`):
//   rows-<isa>   one query row at a time: the decode path (T < 4) of every table
//                (attention_decode.inc: scores kLanes keys at a time with batched horizontal sums,
//                softmax, each value row read once for the whole group; the plain dot-product loop
//                it replaced, attention_rows, remains for head sizes it does not cover).
//   flash-<isa>  FlashAttention (Dao et al. 2022): K packed transposed and V padded per KV head, key
//                tiles of 4 vectors, an online softmax, both products as register tiles; no T × S
//                matrix. The engine's F32 path for T >= 4.
//   flash-bf16   the same loop with both products on bf16 operands (vdpbf16ps), softmax and sums in
//                F32: `--precision bf16` (bound: P's rounding, tests/kernels/test_ops.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/cpu/exec.h"
#include "kernels/cpu/ladder.h"
#include "tensor/tensor.h"

namespace tl::cpu {

using AttentionFn = std::function<void(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, float scale,
                                       int64_t causal_offset)>;

using AttentionRung = Rung<AttentionFn>;

// The rungs this CPU can run, in ladder order (find one by name with find_rung), threaded over `team`.
std::vector<AttentionRung> attention_ladder(const Team& team = {});

// The engine's attention: e.isa's flash kernel (rows for T < 4, threaded over query heads), or with
// e.bf16 and T >= 4 its bf16 kernel where the table and the CPU have one. Shapes are checked by the
// caller (kernels/ops.cpp).
void attention(const Exec& e, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, float scale,
               int64_t causal_offset);
// The same over the first S positions of a head-major KV cache layer, k/v[Hkv, capacity, Dh] (F32 or
// F16): ops::attention_cached on the CPU. Each head's keys are one contiguous stream.
void attention_cached(const Exec& e, const Tensor& q, const Tensor& k, const Tensor& v, int64_t S, Tensor& out,
                      float scale, int64_t causal_offset);

}  // namespace tl::cpu
