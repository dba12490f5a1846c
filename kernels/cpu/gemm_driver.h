// kernels/cpu/gemm_driver.h — the one GEMM driver: blocking, packing order and tails, written once for
// every micro-kernel (F32 per ISA, bf16 dot, AMX tiles, and the quantized ones to come).
//
// Computes y[t, n] = bias[n] + Σ_k a[t, k]·w[n, k] for t < T and n in [n_begin, n_end): the Linear
// layer, x·Wᵀ + b, with W [N, K] row-major in its stored dtype. GotoBLAS loop order (Goto & van de
// Geijn 2008):
//
//   for each block of kNC output columns                  (its packed panels stay in L2)
//     for each slice of kKC inputs
//       pack the block's weights, kNR columns per panel   (Micro::pack_panel, K-major)
//       for each strip of kMR rows of a                   (in L1)
//         for each panel: y[strip, panel] += a[strip] · panel   (Micro::tile: the register tile;
//                         on the first slice y[strip, panel] = bias + a[strip] · panel),
//                         fetching a share of the next slice's weights into L2 (NextSlice)
//
// A micro-kernel is a type with
//   using Packed = ...;                     element of both packed operands (float; uint32_t bf16 pair)
//   static constexpr int kMR, kNR;          rows per strip, columns per panel (the register tile)
//   static constexpr int64_t kKC, kNC;      inputs per slice, columns per block
//   static int64_t steps(int64_t kb);       Packed elements along K for a slice of kb inputs (bf16
//                                           pairs round up; AMX pads to whole tiles)
//   void pack_panel(w, wt, K, n0, nb, k0, kb, Packed* panel);   panel[s][j], s < steps(kb), j < kNR,
//                                           columns past nb and steps past kb zero
//   void tile(int mr, const Packed* a, int64_t a_stride, const Packed* panel, int64_t steps,
//             float* y, int64_t N, int64_t nb, const float* first, const LineRuns& next);
//                                           y[i][j] = (first ? first[j] : y[i][j]) + Σ_s a[i][s]·panel[s][j]
//                                           (first: kNR floats; the first slice writes y without reading it),
//                                           and every line of `next` requested into L2: spread over its
//                                           steps (F32, bf16) or all at once (AMX)
// and an operand source `a(t0, mr, k0, kb, &stride)` returning rows t0 .. t0+mr-1, packed steps
// k0/kper .. of the activations (stride in Packed elements per row): the plain rows of x, rows
// gathered on demand (patch embedding), or activations packed once per call (bf16).
//
// Everything here is a template on the micro-kernel, so each ISA's translation unit gets its own copy
// compiled with its own flags (no inline function is shared between differently compiled files).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tensor/arith.h"
#include "tensor/dtype.h"

namespace tl::cpu {

// Lines of weight rows to request into L2: `count` lines from line `first` of `row`, rows of `per_row`
// lines `stride` bytes apart (a tile's share of the next slice, which can cross row ends). A loop of
// `steps` steps spreads them by requesting one (fetch_one) every every(steps) steps and the rest
// after it (fetch_from); fetch_from(0) requests them all at once.
struct LineRuns {
  const char* row = nullptr;
  int64_t first = 0, count = 0, per_row = 1, stride = 0;
  int64_t every(int64_t steps) const { return std::max<int64_t>(1, steps / (count + 1)); }
  void fetch_one(int64_t& i) const {
    if (i < count) fetch(i++);
  }
  void fetch_from(int64_t i) const {
    for (; i < count; ++i) fetch(i);
  }

 private:
  void fetch(int64_t i) const {
    const int64_t l = first + i;
    __builtin_prefetch(row + (l / per_row) * stride + (l % per_row) * 64, 0, 2);
  }
};

// The weights the next slice will pack, fetched into L2 a share per tile while this slice computes
// (the packing read them from DRAM on demand: 5 % of SigLIP's time). Each tile gets its share as
// LineRuns and spreads the requests through its loop: issued in one burst between tiles they filled
// the core's miss queue and stalled (27 % of the packing's samples, bench/RESULTS.md). Plain dtypes
// only; quantized matrices (QuantMatrix, not rows of bytes) are read as before.
class NextSlice {
 public:
  NextSlice(const void* w, DType wt, int64_t K) : w_(static_cast<const char*>(w)), K_(K) {
    esize_ = is_quantized(wt) ? 0 : static_cast<int64_t>(dtype_size(wt));
  }
  // Columns [n0, n0 + nb), inputs [k0, k0 + kb), shared out over `tiles` calls of take().
  void start(int64_t n0, int64_t nb, int64_t k0, int64_t kb, int64_t tiles) {
    left_ = 0;
    if (esize_ == 0 || nb <= 0) return;
    row_ = w_ + (n0 * K_ + k0) * esize_;
    lines_ = ceil_div<int64_t>(kb * esize_, 64) + 1;  // + 1: a slice need not start a line
    line_ = 0;
    left_ = nb * lines_;
    per_take_ = ceil_div(left_, tiles);
  }
  // The next tile's share.
  LineRuns take() {
    if (left_ <= 0) return {};
    const LineRuns r{row_, line_, std::min(per_take_, left_), lines_, K_ * esize_};
    left_ -= r.count;
    line_ += r.count;
    row_ += line_ / lines_ * K_ * esize_;
    line_ %= lines_;
    return r;
  }

 private:
  const char* w_;
  const char* row_ = nullptr;
  int64_t K_, esize_ = 0, lines_ = 1, line_ = 0, left_ = 0, per_take_ = 0;
};

template <typename Micro, typename Source>
void gemm_drive(Micro& micro, const Source& a, int64_t T, int64_t K, const void* w, DType wt, const float* bias,
                float* y, int64_t N, int64_t n_begin, int64_t n_end) {
  using Packed = typename Micro::Packed;
  constexpr int64_t kNR = Micro::kNR, kNC = Micro::kNC, kKC = Micro::kKC, kMR = Micro::kMR;
  static_assert(kNC % kNR == 0, "a block holds whole panels");
  const int64_t panel_size = Micro::steps(kKC) * kNR;
  thread_local std::vector<Packed> panels;
  panels.resize(static_cast<size_t>(panel_size * (kNC / kNR)));
  float start[kNC];  // where the block's outputs start: the bias (or zeros), whole panels
  NextSlice next(w, wt, K);
  for (int64_t nc0 = n_begin; nc0 < n_end; nc0 += kNC) {
    const int64_t ncl = std::min(kNC, n_end - nc0);
    const int64_t blocks = ceil_div<int64_t>(ncl, kNR);
    for (int64_t j = 0; j < kNC; ++j) start[j] = bias && j < ncl ? bias[nc0 + j] : 0.0f;
    if (K == 0)  // no slice to start from
      for (int64_t t = 0; t < T; ++t) std::copy(start, start + ncl, y + t * N + nc0);
    for (int64_t k0 = 0; k0 < K; k0 += kKC) {
      const int64_t kb = std::min(kKC, K - k0), steps = Micro::steps(kb);
      for (int64_t b = 0; b < blocks; ++b)
        micro.pack_panel(w, wt, K, nc0 + b * kNR, std::min(kNR, ncl - b * kNR), k0, kb, &panels[b * panel_size]);
      const int64_t tiles = ceil_div<int64_t>(T, kMR) * blocks;
      if (k0 + kKC < K) next.start(nc0, ncl, k0 + kKC, std::min(kKC, K - k0 - kKC), tiles);
      else next.start(nc0 + kNC, std::min(kNC, n_end - nc0 - kNC), 0, std::min(kKC, K), tiles);
      // A strip in L1 meets every panel of the block (streamed from L2). The other order, each panel
      // against every strip, measured 1-25 % slower (bench/RESULTS.md).
      for (int64_t t0 = 0; t0 < T; t0 += kMR) {
        const int mr = static_cast<int>(std::min(kMR, T - t0));
        int64_t stride = 0;
        const Packed* strip = a(t0, mr, k0, kb, &stride);
        for (int64_t b = 0; b < blocks; ++b) {
          micro.tile(mr, strip, stride, &panels[b * panel_size], steps, y + t0 * N + nc0 + b * kNR, N,
                     std::min(kNR, ncl - b * kNR), k0 == 0 ? &start[b * kNR] : nullptr, next.take());
        }
      }
    }
  }
}

}  // namespace tl::cpu
