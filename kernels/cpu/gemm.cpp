// kernels/cpu/gemm.cpp — threading, the engine's GEMM entry and the ladder (contract in gemm.h).
#include "kernels/cpu/gemm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/gemv_vnni.h"
#include "kernels/cpu/threads.h"
#include "tensor/arith.h"
#include "tensor/clock.h"

namespace tl::cpu {

namespace {

// Runs range(n_begin, n_end) over [0, N) on all threads, each a contiguous run of whole panels.
template <typename Range>
void split_columns(const Team& team, int64_t N, int64_t panel, const Range& range) {
  const int64_t panels = ceil_div(N, panel);
  parallel_for(team, panels, [&](int64_t p0, int64_t p1) { range(p0 * panel, std::min(N, p1 * panel)); });
}

// Decode's GEMVs are read streams, and on a shared host one core often streams a few % slower than
// the other for seconds at a time: equal shares then leave the faster thread waiting at the end of
// every GEMV (2.8-3.6 % of each GEMV's time in the 83-87 GB/s band, 0.5-0.8 % at ~50 GB/s). These
// rows are split in proportion to each thread's rate over the previous GEMVs (rows per second,
// smoothed over ~10 calls), in whole panels. One per calling thread, so engines on different threads
// keep their own. A row is still computed whole by one thread: the split never changes a result
// (Kernels.DecodeGemvSplitByRateNeverChangesTheResult). Measured 2026-11-30, full-size F16 decode at
// depth 774-974, 2 threads, equal halves and this taking turns: 83-87 GB/s band 60.4-72.2 (median
// 63.0) -> 57.7-68.6 (median 66.3) tok/s over 9 pairs, ~50 GB/s band ±1 %. Losers (bench/RESULTS.md):
// rows handed out from a shared counter, two-ended chunks, a thread done early taking the other's last
// units (tail stealing), and 16-row split units instead of whole panels.
class RateSplit {
 public:
  template <typename Range>
  void run(const Team& team, int64_t N, int64_t panel, const Range& range) {
    const int chunks = team.size();
    if (static_cast<int>(share_.size()) != chunks) share_.assign(static_cast<size_t>(chunks), 1.0 / chunks);
    const int64_t panels = ceil_div(N, panel);
    bound_.assign(static_cast<size_t>(chunks) + 1, 0);
    double cumulative = 0;
    for (int c = 0; c < chunks; ++c) {
      cumulative += share_[c];
      bound_[c + 1] = c + 1 == chunks ? panels : std::clamp<int64_t>(std::llround(cumulative * panels), bound_[c], panels);
    }
    secs_.assign(static_cast<size_t>(chunks), 0.0);
    parallel_for(team, chunks, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const auto t0 = Clock::now();
        const int64_t n0 = std::min(N, bound_[c] * panel), n1 = std::min(N, bound_[c + 1] * panel);
        if (n0 < n1) range(n0, n1);
        secs_[c] = seconds_since(t0);
      }
    });
    double total = 0;
    std::vector<double>& rate = secs_;  // rows per second, in place
    for (int c = 0; c < chunks; ++c) {
      const int64_t rows = std::min(N, bound_[c + 1] * panel) - std::min(N, bound_[c] * panel);
      if (rows <= 0 || secs_[c] <= 0) return;  // nothing measured for a thread: keep the shares
      rate[c] = static_cast<double>(rows) / secs_[c];
      total += rate[c];
    }
    for (int c = 0; c < chunks; ++c) share_[c] = 0.9 * share_[c] + 0.1 * rate[c] / total;
  }

 private:
  std::vector<double> share_, secs_;
  std::vector<int64_t> bound_;
};

void gemm_f32(const Team& team, const IsaKernels& k, const float* x, int64_t T, int64_t K, const void* w, DType wt,
              const float* bias, float* y, int64_t N) {
  auto range = [&](int64_t n0, int64_t n1) { k.gemm(x, T, K, w, wt, bias, y, N, n0, n1); };
  if (T > kGemvMaxRows) return split_columns(team, N, k.gemm_columns, range);
  thread_local RateSplit split;
  split.run(team, N, k.gemm_columns, range);
}

void gemm_bf16_all(const Team& team, Bf16Kernel kernel, int64_t kc, const float* x, int64_t T, int64_t K, const void* w,
                   DType wt, const float* bias, float* y, int64_t N) {
  thread_local std::vector<uint32_t> a;  // the activations as bf16 pairs, packed once, read by all threads
  const int64_t kp = bf16_pairs(K, kernel);
  a.resize(static_cast<size_t>(T * kp));
  uint32_t* pa_out = a.data();
  parallel_for(team, T, [&](int64_t t0, int64_t t1) { pack_activations_bf16(x + t0 * K, t1 - t0, K, pa_out + t0 * kp, kernel); }, 16);
  const uint32_t* pa = a.data();
  split_columns(team, N, kBf16PanelColumns, [&](int64_t n0, int64_t n1) {
    gemm_bf16(kernel, pa, T, K, w, wt, bias, y, N, n0, n1, kc);
  });
}

GemmFn study(const Team& team, GemmRange range) {
  return [team, range](const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y,
                       int64_t N) {
    split_columns(team, N, kStudyPanel, [&](int64_t n0, int64_t n1) { range(x, T, K, w, wt, bias, y, N, n0, n1); });
  };
}

}  // namespace

std::vector<GemmRung> gemm_ladder(const Team& team) {
  std::vector<GemmRung> v = {
      {"naive", "the definition: weights converted where read, one add chain per output", study(team, gemm_naive)},
      {"loop-order", "weight row outermost: converted once, reused from L1 by every row", study(team, gemm_loop_order)},
      {"cache-blocked", "64x256 weight blocks in L2 serve every row; x slices in L1", study(team, gemm_cache_blocked)},
      {"packed", "K-major panels: a row of y by outer products the compiler vectorizes", study(team, gemm_packed)},
  };
  for (const IsaKernels* k : runnable_isa_tables())
    v.push_back({std::string("register-tile-") + k->name, "the driver: an MR x NR tile of y held in registers",
                 [team, k](const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* b, float* y,
                           int64_t N) { gemm_f32(team, *k, x, T, K, w, wt, b, y, N); }});
  auto bf16_rung = [team](Bf16Kernel kernel, int64_t kc) {
    return [team, kernel, kc](const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* b, float* y,
                              int64_t N) { gemm_bf16_all(team, kernel, kc, x, T, K, w, wt, b, y, N); };
  };
  if (gemm_bf16_available()) {
    v.push_back({"bf16-dot-l1", "bf16 pairs, vdpbf16ps: two products per lane per instruction (256-input K slices, panels in L1d)",
                 bf16_rung(Bf16Kernel::Dot, 256)});
    v.push_back({"bf16-dot-l1-kc128", "the same in 128-input slices (16 KiB panels: for a 32 KiB L1d)",
                 bf16_rung(Bf16Kernel::Dot, 128)});
    v.push_back({"bf16-dot-l1-kc512", "the same in 512-input slices (64 KiB panels: past a 48 KiB L1d)",
                 bf16_rung(Bf16Kernel::Dot, 512)});
    v.push_back({"bf16-dot", "one 2304-input panel per 64 columns, in L2: each output written once per slice",
                 bf16_rung(Bf16Kernel::Dot, 2304)});
    v.push_back({"bf16-dot-kc1152", "the same in 1152-input slices (for a 512 KiB L2)", bf16_rung(Bf16Kernel::Dot, 1152)});
    v.push_back({"bf16-dot-kc4608", "the same in 4608-input slices (for a 2 MiB L2)", bf16_rung(Bf16Kernel::Dot, 4608)});
  }
  if (amx_ready())
    v.push_back({"amx", "TDPBF16PS: 16x16 tiles of bf16 products per instruction", bf16_rung(Bf16Kernel::Amx, 512)});
  return v;
}

// Decode on Q8/Q4 weights with int8 activations: each row of x quantized once, then the threads split
// the weight rows (in 16-row blocks).
void gemv_int8(const Team& team, const float* x, int64_t T, int64_t K, const QuantMatrix& w, DType wt,
               const float* bias, float* y, int64_t N) {
  for (int64_t t = 0; t < T; ++t) {
    const VnniActivations a(x + t * K, K, wt);
    split_columns(team, N, 16, [&](int64_t n0, int64_t n1) { a.rows(w, bias, y + t * N, n0, n1); });
  }
}

void gemm(const Exec& e, const float* x, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y,
          int64_t N) {
  if (e.int8_gemv && T <= kGemvMaxRows && is_quantized(wt))
    return gemv_int8(e.team, x, T, K, *static_cast<const QuantMatrix*>(w), wt, bias, y, N);
  if (e.bf16 && T > kGemvMaxRows) return gemm_bf16_all(e.team, e.bf16_kernel, e.bf16_kc, x, T, K, w, wt, bias, y, N);
  gemm_f32(e.team, *e.isa, x, T, K, w, wt, bias, y, N);
}

void gemm_gather(const Exec& e, GatherRows gather, const void* ctx, int64_t T, int64_t K, const void* w, DType wt,
                 const float* bias, float* y, int64_t N) {
  const IsaKernels& k = *e.isa;
  split_columns(e.team, N, k.gemm_columns, [&](int64_t n0, int64_t n1) {
    k.gemm_gather(gather, ctx, T, K, w, wt, bias, y, N, n0, n1);
  });
}

}  // namespace tl::cpu
