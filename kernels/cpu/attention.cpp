// kernels/cpu/attention.cpp — threading over KV heads, the engine's entry and the ladder (contract in
// attention.h).
#include "kernels/cpu/attention.h"

#include <algorithm>
#include <numeric>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/threads.h"

namespace tl::cpu {

namespace {

using Kernel = decltype(IsaKernels::attention);

// Where K and V live: S keys of Hkv heads, head g's key j at g·head + j·row elements. Position-major
// [S, Hkv, Dh] (ops::attention): head = Dh, row = Hkv·Dh; head-major [Hkv, capacity, Dh] (a CPU KV
// cache, ops::attention_cached): head = capacity·Dh, row = Dh.
struct KvLayout {
  int64_t S, Hkv, head, row;
  static KvLayout position_major(const Tensor& k) { return {k.shape[0], k.shape[1], k.shape[2], k.shape[1] * k.shape[2]}; }
  static KvLayout head_major(const Tensor& k, int64_t S) { return {S, k.shape[0], k.shape[1] * k.shape[2], k.shape[2]}; }
};

// The query rows of one KV head cut into up to `parts` runs of equal work, each starting on a 16-row
// block (the kernels' query block) and at least a block long (shorter runs would take the T < 4
// path): bounds[p] .. bounds[p + 1]. Causal rows see more keys the later they are (row t:
// min(S, t + offset + 1)), so the later runs are shorter.
std::vector<int64_t> equal_work_rows(int64_t T, int64_t S, int64_t causal_offset, int64_t parts) {
  constexpr int64_t kBlock = 16;
  auto keys = [&](int64_t t) { return causal_offset < 0 ? S : std::min(S, t + causal_offset + 1); };
  double total = 0;
  for (int64_t t = 0; t < T; ++t) total += static_cast<double>(keys(t));
  std::vector<int64_t> bounds = {0};
  double done = 0;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t p = static_cast<int64_t>(bounds.size());
    if (p < parts && t % kBlock == 0 && t > bounds.back() && T - t >= kBlock &&
        done >= total * static_cast<double>(p) / parts)
      bounds.push_back(t);
    done += static_cast<double>(keys(t));
  }
  bounds.push_back(T);
  return bounds;
}

// Tasks of one KV head's K and V (packed by each task that reads them) and a run of its query rows.
// Hkv tasks alone leave threads idle when Hkv is not a multiple of the team (OpenELM's 3 or 5 KV
// heads on 2 threads: one thread a head behind; 3-6 heads on 16 threads: most idle), so each head's
// rows are cut into team / gcd(Hkv, team) runs of equal work (at most one per 16-row block), which
// makes the task count a multiple of the team. Every row is computed as in one call (the kernels
// treat rows independently; a run sees the keys up to its own causal limit), so any cut gives the
// same bits.
void run_heads(const Team& team, Kernel kernel, const Tensor& q, const Tensor& k, const Tensor& v, const KvLayout& kv,
               Tensor& out, float scale, int64_t causal_offset) {
  const int64_t T = q.shape[0], H = q.shape[1], Dh = q.shape[2], group = H / kv.Hkv;
  const int64_t threads = team.size();
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads / std::gcd<int64_t>(kv.Hkv, threads), T / 16));
  const std::vector<int64_t> rows = equal_work_rows(T, kv.S, causal_offset, parts);
  const int64_t runs = static_cast<int64_t>(rows.size()) - 1;
  parallel_for(team, kv.Hkv * runs, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t g = i / runs, t0 = rows[i % runs], t1 = rows[i % runs + 1];
      const int64_t offset = causal_offset < 0 ? causal_offset : causal_offset + t0;
      const int64_t S = causal_offset < 0 ? kv.S : std::min(kv.S, t1 + causal_offset);
      kernel(q.ptr<float>() + (t0 * H + g * group) * Dh, t1 - t0, H * Dh, group, Dh, k.ptr<float>() + g * kv.head,
             v.ptr<float>() + g * kv.head, kv.row, S, Dh, scale, offset,
             out.ptr<float>() + (t0 * H + g * group) * Dh, H * Dh, Dh);
    }
  });
}

// Few query rows (decode, T < 4): threads split the H query heads, not the KV heads, so 3 or 5 KV
// heads on 2 threads do not leave one thread a whole head behind (a group split between two threads
// has its K and V read by both). Each run of heads that shares a KV head is one kernel call.
// KV is the cache's element type: float, or uint16_t for an F16 cache (kernel: attention_f16kv).
template <typename KV, typename KernelFn>
void run_query_heads(const Team& team, KernelFn kernel, const Tensor& q, const Tensor& k, const Tensor& v,
                     const KvLayout& kv, Tensor& out, float scale, int64_t causal_offset) {
  const int64_t T = q.shape[0], H = q.shape[1], Dh = q.shape[2], group = H / kv.Hkv;
  parallel_for(team, H, [&](int64_t h0, int64_t h1) {
    for (int64_t h = h0; h < h1;) {
      const int64_t g = h / group, end = std::min(h1, (g + 1) * group);
      kernel(q.ptr<float>() + h * Dh, T, H * Dh, end - h, Dh, k.ptr<KV>() + g * kv.head, v.ptr<KV>() + g * kv.head,
             kv.row, kv.S, Dh, scale, causal_offset, out.ptr<float>() + h * Dh, H * Dh, Dh);
      h = end;
    }
  });
}

// Every query row on its own (the T = 1 path of a table), at any T.
void run_rows(const Team& team, const IsaKernels& isa, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, float scale,
              int64_t causal_offset) {
  const int64_t T = q.shape[0], H = q.shape[1], Dh = q.shape[2], S = k.shape[0], Hkv = k.shape[1];
  const int64_t group = H / Hkv;
  parallel_for(team, Hkv * T, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t g = i / T, t = i % T, offset = causal_offset < 0 ? causal_offset : causal_offset + t;
      isa.attention(q.ptr<float>() + (t * H + g * group) * Dh, 1, H * Dh, group, Dh, k.ptr<float>() + g * Dh,
                    v.ptr<float>() + g * Dh, Hkv * Dh, S, Dh, scale, offset, out.ptr<float>() + (t * H + g * group) * Dh,
                    H * Dh, Dh);
    }
  });
}

Kernel bf16_kernel(const IsaKernels& isa) { return cpu_features().avx512_bf16 ? isa.attention_bf16 : nullptr; }

// The keys an F16 cache holds, as F32 in `buf` (reused across calls: no fresh pages per layer), laid
// out as `kv` says, at the same offsets. Prefill converts once per call, then runs the F32 kernels: a
// small cost next to the GEMMs.
Tensor widened(const Exec& e, const Tensor& t, const KvLayout& kv, std::vector<float>& buf) {
  // Contiguous runs of keys: all S·Hkv·Dh values (position-major), or each head's S·Dh (head-major).
  const int64_t Dh = t.shape[2];
  const bool per_head = kv.head != Dh;
  const int64_t runs = per_head ? kv.Hkv : 1, run = per_head ? kv.S * Dh : kv.S * kv.row;
  buf.resize(static_cast<size_t>(t.numel()));
  float* dst = buf.data();
  parallel_for(e.team, runs * run, [&](int64_t b, int64_t end) {
    for (int64_t i = b; i < end;) {  // one run at a time
      const int64_t r = i / run, n = std::min(end, (r + 1) * run) - i, at = r * kv.head + i % run;
      e.isa->to_f32(t.ptr<uint16_t>() + at, DType::F16, dst + at, n);
      i += n;
    }
  }, 1 << 16);
  return Tensor::view(dst, DType::F32, t.shape_vec());
}

void attention_layout(const Exec& e, const Tensor& q, const Tensor& k, const Tensor& v, const KvLayout& kv, Tensor& out,
                      float scale, int64_t causal_offset) {
  if (k.dtype == DType::F16) {
    if (q.shape[0] < 4)
      return run_query_heads<uint16_t>(e.team, e.isa->attention_f16kv, q, k, v, kv, out, scale, causal_offset);
    thread_local std::vector<float> kbuf, vbuf;
    return attention_layout(e, q, widened(e, k, kv, kbuf), widened(e, v, kv, vbuf), kv, out, scale, causal_offset);
  }
  if (q.shape[0] < 4) return run_query_heads<float>(e.team, e.isa->attention, q, k, v, kv, out, scale, causal_offset);
  Kernel kernel = e.bf16 ? bf16_kernel(*e.isa) : nullptr;
  run_heads(e.team, kernel ? kernel : e.isa->attention, q, k, v, kv, out, scale, causal_offset);
}

}  // namespace

std::vector<AttentionRung> attention_ladder(const Team& team) {
  std::vector<AttentionRung> v;
  for (const IsaKernels* k : runnable_isa_tables())
    v.push_back({std::string("rows-") + k->name, "one query row at a time: dots, softmax, weighted sum of V rows",
                 [team, k](const Tensor& q, const Tensor& kk, const Tensor& vv, Tensor& o, float s, int64_t c) {
                   run_rows(team, *k, q, kk, vv, o, s, c);
                 }});
  for (const IsaKernels* k : runnable_isa_tables())
    v.push_back({std::string("flash-") + k->name, "packed K/V tiles, online softmax, both products register-tiled",
                 [team, k](const Tensor& q, const Tensor& kk, const Tensor& vv, Tensor& o, float s, int64_t c) {
                   run_heads(team, k->attention, q, kk, vv, KvLayout::position_major(kk), o, s, c);
                 }});
  if (Kernel kernel = bf16_kernel(best_isa()))
    v.push_back({"flash-bf16", "both products on bf16 pairs (vdpbf16ps), softmax in F32",
                 [team, kernel](const Tensor& q, const Tensor& kk, const Tensor& vv, Tensor& o, float s, int64_t c) {
                   run_heads(team, kernel, q, kk, vv, KvLayout::position_major(kk), o, s, c);
                 }});
  return v;
}


void attention(const Exec& e, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, float scale,
               int64_t causal_offset) {
  attention_layout(e, q, k, v, KvLayout::position_major(k), out, scale, causal_offset);
}

void attention_cached(const Exec& e, const Tensor& q, const Tensor& k, const Tensor& v, int64_t S, Tensor& out,
                      float scale, int64_t causal_offset) {
  attention_layout(e, q, k, v, KvLayout::head_major(k, S), out, scale, causal_offset);
}

}  // namespace tl::cpu
