// kernels/cpu/gemm_bf16.cpp — the reduced-precision GEMM of `--precision bf16`, on AVX512_BF16.
//
// y[T, N] = bf16(x)[T, K] · bf16(W)[N, K]ᵀ + b, products exact and sums in F32 (vdpbf16ps). Both
// operands are rounded to bfloat16 (8 significant bits, round to nearest even): activations once per
// call, weights per packed panel (F16 weights lose their 3 lowest mantissa bits). Error bound: each
// product carries ≤ 2·2⁻⁹ relative error, so |y - y_f32| ≲ 2⁻⁸·Σ|x·w| — measured end to end in
// tests/model/test_precision.cpp.
//
// Layout: vdpbf16ps multiplies pairs of bf16 along K, so activations are kept as K/2 32-bit pairs
// per row and each weight panel as [K/2][64 columns][2]; the micro-kernel is 6 rows × 64 columns
// (24 zmm accumulators). Blocking, packing order and tails are the one driver's (gemm_driver.h).
//
// AMX (Sapphire Rapids and later): the same packed operands feed TDPBF16PS tiles. A weight panel
// [K/2][64][2] read 16 pairs × 16 columns at a time is exactly a B tile (16 rows of 64 bytes, row
// stride 256 bytes); 16 activation rows × 16 pairs is an A tile. Each block of 32 rows × 32 columns
// keeps four 16 × 16 F32 accumulator tiles (tiles 0-3), two A tiles (4, 5) and two B tiles (6, 7).
// Tiles cannot be resized mid-sum, so the AMX path pads K to a multiple of 32 with zeros (activations
// packed with that stride, panel rows past K zeroed): the padding adds exact zeros. Same numerics as
// vdpbf16ps: bf16 products exact, F32 sums (in another order). The kernel is used only after
// the OS grants the tile state (arch_prctl) and a self-test against the AVX512_BF16 kernel on a
// random odd-shaped problem agrees; amx_status() says which. THIS PATH HAS NOT RUN YET: it was
// written and compiled on a machine without AMX (see bench/RESULTS.md); the self-test guards it.
//
// Compiled only into AVX-512 builds of this file; gemm_bf16_available() says whether this CPU has it.
#include "kernels/cpu/gemm_bf16.h"


#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/gemm_driver.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/transpose_avx512.h"
#include "tensor/arith.h"
#include "tensor/error.h"

#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <vector>







namespace tl::cpu {

namespace {

int64_t avx_row_pairs(int64_t K) { return (K + 1) / 2; }
void gemm_avx512_bf16(const uint32_t* a, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y,
                      int64_t N, int64_t n_begin, int64_t n_end, int64_t kc = 256);

constexpr int kNR = 64;     // columns per panel (4 zmm of 16 floats)
constexpr int64_t kKC = 512, kNC = 512;  // the largest slice (AMX uses it; the dot kernel 256), columns per block

// 16 floats -> 16 bf16, round to nearest even (NaN stays NaN).
inline __m256i to_bf16(__m512 v) { return (__m256i)_mm512_cvtneps_pbh(v); }

// Rows [0, T) of x as bf16 pairs: a[t][p] = bf16(x[t][2p]) | bf16(x[t][2p+1]) << 16, K padded to even.
void pack_activations(const float* x, int64_t T, int64_t K, uint32_t* a, int64_t kp) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * K;
    uint16_t* ar = reinterpret_cast<uint16_t*>(a + t * kp);
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) _mm256_storeu_si256(reinterpret_cast<__m256i*>(ar + k), to_bf16(_mm512_loadu_ps(xr + k)));
    for (; k < 2 * kp; ++k) ar[k] = k < K ? f32_to_bf16(xr[k]) : 0;
  }
}

// The packing both bf16 micro-kernels share: columns [n0, n0 + nb) and inputs [k0, k0 + kb) as
// bp[p][j] = pair (k0 + 2p, k0 + 2p + 1) of column j, zero-padded to kNR columns and to `steps` pairs.
// Sixteen weight rows at a time are converted to pairs (rows[j][p]) and transposed 16 × 16 in
// registers: a strided store per element cost ~12 % of the GEMM.
struct PackBf16 {
  static constexpr int64_t kPairsMax = kKC / 2;
  alignas(64) uint32_t rows[16][kPairsMax + 16];  // 16 weight rows as pairs, zero past the slice
  float row[kKC + 16];                            // one F32 weight row (odd slices: + a zero)

  void pack_panel(const void* w, DType wt, int64_t K, int64_t n0, int64_t nb, int64_t k0, int64_t kb, int64_t steps,
                  uint32_t* bp) {
    for (int64_t ks = 0; ks < kb; ks += kKC)  // slices longer than the row buffers, kKC inputs at a time
      pack_part(w, wt, K, n0, nb, k0 + ks, std::min(kKC, kb - ks), bp + ks / 2 * kNR);
    for (int64_t p = (kb + 1) / 2; p < steps; ++p)  // AMX: whole 16-pair B tiles, the rows past K zero
      for (int64_t j = 0; j < kNR; ++j) bp[p * kNR + j] = 0;
  }

  void pack_part(const void* w, DType wt, int64_t K, int64_t n0, int64_t nb, int64_t k0, int64_t kb, uint32_t* bp) {
    const int64_t pairs = ceil_div<int64_t>(kb, 2), padded = round_up<int64_t>(pairs, 16);
    const size_t esize = is_quantized(wt) ? 0 : dtype_size(wt);
    for (int64_t j0 = 0; j0 < kNR; j0 += 16) {
      for (int64_t j = 0; j < 16; ++j) {
        if (j0 + j < nb && is_quantized(wt))
          quantized_row_pairs(w, wt, K, n0 + j0 + j, k0, kb, rows[j]);
        else if (j0 + j < nb)
          row_pairs(static_cast<const char*>(w) + ((n0 + j0 + j) * K + k0) * static_cast<int64_t>(esize), wt, kb, rows[j]);
        else
          std::memset(rows[j], 0, static_cast<size_t>(padded) * 4);
        std::memset(rows[j] + pairs, 0, static_cast<size_t>(padded - pairs) * 4);
      }
      for (int64_t p0 = 0; p0 < pairs; p0 += 16) {
        __m512i r[16];
        for (int j = 0; j < 16; ++j) r[j] = _mm512_load_si512(rows[j] + p0);
        transpose16x16(r);
        for (int64_t p = 0; p < 16 && p0 + p < pairs; ++p) _mm512_storeu_si512(bp + (p0 + p) * kNR + j0, r[p]);
      }
    }
  }

  // One weight row's kb inputs as (kb + 1) / 2 bf16 pairs (pair p = inputs 2p, 2p + 1) in dst.
  void row_pairs(const char* src, DType wt, int64_t kb, uint32_t* dst) {
    uint16_t* dst16 = reinterpret_cast<uint16_t*>(dst);
    if (wt == DType::BF16) {
      std::memcpy(dst16, src, static_cast<size_t>(kb) * 2);
      if (kb % 2) dst16[kb] = 0;
      return;
    }
    int64_t k = 0;
    if (wt == DType::F16) {  // F16 -> F32 -> bf16 in registers
      const uint16_t* h = reinterpret_cast<const uint16_t*>(src);
      for (; k + 32 <= kb; k += 32) {
        const __m512 lo = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + k)));
        const __m512 hi = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(h + k + 16)));
        _mm512_storeu_si512(dst16 + k, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
      }
    }
    if (k == kb) return;
    isa_avx512()->to_f32(src + k * static_cast<int64_t>(dtype_size(wt)), wt, row, kb - k);
    row_to_pairs(kb - k, dst16 + k);
  }

  // A Q8/Q4 row's slice (w a QuantMatrix), dequantized exactly to F32, then rounded to bf16 pairs.
  void quantized_row_pairs(const void* w, DType wt, int64_t K, int64_t n, int64_t k0, int64_t kb, uint32_t* dst) {
    isa_avx512()->weight_slice(w, wt, K, n, k0, kb, row);
    row_to_pairs(kb, reinterpret_cast<uint16_t*>(dst));
  }

  // row[0, n) (F32) -> dst16[0, n) as bf16, padded with a zero to an even count.
  void row_to_pairs(int64_t n, uint16_t* dst16) {
    row[n] = 0.0f;  // pad an odd K
    const int64_t even = (n + 1) / 2 * 2;
    int64_t i = 0;
    for (; i + 16 <= even; i += 16)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst16 + i), to_bf16(_mm512_loadu_ps(row + i)));
    for (; i < even; ++i) dst16[i] = f32_to_bf16(row[i]);
  }
};

// The vdpbf16ps micro-kernel: 6 rows × 64 columns, 24 zmm accumulators, one K pair per step, in K
// slices of KC inputs (a 128·KC-byte panel) and blocks of NC columns. Two blockings
// (bf16_slice_inputs() picks one per CPU):
//   L1 panels (KC 128-512, NC 512): each panel fits L1d; y[strip, block] is read and written again
//     for every slice of K (the first blocking, 2026-11-29).
//   L2 panels (KC 1152-4608, NC 64): one panel of (nearly) the whole K, in L2, meets every strip; the
//     strip's 6 × 64 outputs are written once per slice, which for the model's K (1152-6144) is once
//     or up to three times. Measured 2026-11-30 on Zen 5 (48 KiB L1d, 1 MiB L2), 2 threads, the six
//     model shapes, 2 interleaved rounds: L1 panels KC 256 753-902 GFLOP/s, L2 panels KC 2304 NC 64
//     923-974 (+5 to +25 %, 89-93 % of the bf16 peak); NC 128 881-977, NC 256 834-984, KC 1152
//     882-962, KC 4608 919-964. y's repeated reads and writes, not the panel's distance, were the cost.
template <int64_t KC, int64_t NC>
struct MicroBf16T : PackBf16 {
  using Packed = uint32_t;
  static constexpr int kMR = 6, kNR = tl::cpu::kNR;
  static constexpr int64_t kKC = KC, kNC = NC;
  static int64_t steps(int64_t kb) { return (kb + 1) / 2; }

  void pack_panel(const void* w, DType wt, int64_t K, int64_t n0, int64_t nb, int64_t k0, int64_t kb, uint32_t* bp) {
    PackBf16::pack_panel(w, wt, K, n0, nb, k0, kb, steps(kb), bp);
  }

  // Not inlined into the driver: compiled alone, the six row pointers stay in registers (inlined, GCC
  // spilled them and reloaded one per broadcast). Measured ±0 (2026-11-30, model shapes, 3 interleaved
  // rounds): the loads were never the limit; kept because the loop now is what the comment says.
  //
  // The next slice's lines (`next`) are requested one every next.every(pairs) steps, not in a burst
  // between tiles: a burst of ~20 requests filled the core's miss queue and stalled (perf: 27 % of the
  // packing's samples on the prefetch loop). Measured 2026-12-01, SigLIP encode and 774-position
  // prefill, old and new libraries taking turns, 12 rounds of medians of 4: SigLIP faster in 10 of 12
  // (median -1.4 %), prefill in 12 of 12 (median -1.9 %).
  template <int MR>
  __attribute__((noinline)) static void tile_rows(const uint32_t* a, int64_t kp, const uint32_t* bp, int64_t pairs,
                                                  float* y, int64_t N, int64_t nb, const float* first,
                                                  const LineRuns& next) {
    __m512 acc[MR][4];
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < 4; ++v) acc[i][v] = _mm512_setzero_ps();
    const uint32_t* rows[MR];  // one base register per row: no row offsets reloaded from the stack
    for (int i = 0; i < MR; ++i) rows[i] = a + i * kp;
    const int64_t every = next.every(pairs);
    int64_t fetched = 0;
    for (int64_t p0 = 0; p0 < pairs; p0 += every) {
      next.fetch_one(fetched);
      for (int64_t p = p0; p < std::min(pairs, p0 + every); ++p) {
        __m512bh b[4];
        for (int v = 0; v < 4; ++v) b[v] = (__m512bh)_mm512_loadu_si512(bp + p * kNR + v * 16);
        for (int i = 0; i < MR; ++i) {
          const __m512bh av = (__m512bh)_mm512_set1_epi32(static_cast<int>(rows[i][p]));
          for (int v = 0; v < 4; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], av, b[v]);
        }
      }
    }
    next.fetch_from(fetched);
    for (int i = 0; i < MR; ++i) {
      float* yr = y + i * N;
      const float* base = first ? first : yr;  // the first slice starts from the bias, not from y
      if (nb == kNR) {  // a whole panel: add the vectors in place
        for (int v = 0; v < 4; ++v) _mm512_storeu_ps(yr + v * 16, _mm512_add_ps(_mm512_loadu_ps(base + v * 16), acc[i][v]));
        continue;
      }
      float part[kNR];
      for (int v = 0; v < 4; ++v) _mm512_storeu_ps(part + v * 16, acc[i][v]);
      for (int64_t j = 0; j < nb; ++j) yr[j] = base[j] + part[j];
    }
  }

  template <int MR = kMR>
  static void tile(int mr, const uint32_t* a, int64_t kp, const uint32_t* bp, int64_t pairs, float* y, int64_t N,
                   int64_t nb, const float* first, const LineRuns& next) {
    if constexpr (MR > 0) {
      if (mr == MR) return tile_rows<MR>(a, kp, bp, pairs, y, N, nb, first, next);
      tile<MR - 1>(mr, a, kp, bp, pairs, y, N, nb, first, next);
    }
  }
};

// ---- AMX -----------------------------------------------------------------------------------------

constexpr int64_t kAmxPairs = 16;  // pairs per tile step (64 bytes of bf16 pairs per A row)

int64_t amx_row_pairs(int64_t K) { return round_up(ceil_div<int64_t>(K, 2), kAmxPairs); }

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// The tile operations, as the hardware does them (AmxTiles) and as plain loops (EmulatedTiles, for the
// tests on CPUs without AMX: same loops, same addresses, same tile shapes). Tiles 0-3: C (rows r0, r0,
// r1, r1 × 16 floats); 4, 5: A (r0, r1 rows × 16 pairs); 6, 7: B (16 pairs × 16 columns).
struct TileShapes {
  int rows[8];
  static TileShapes make(int r0, int r1) { return {{r0, r0, r1, r1, r0, r1, 16, 16}}; }
};

struct AmxTiles {
  __attribute__((target("amx-tile"))) static void configure(int r0, int r1) {
    const TileShapes shapes = TileShapes::make(r0, r1);
    TileConfig c;
    for (int t = 0; t < 8; ++t) {
      c.rows[t] = static_cast<uint8_t>(shapes.rows[t]);
      c.colsb[t] = shapes.rows[t] ? 64 : 0;
    }
    _tile_loadconfig(&c);
  }
  __attribute__((target("amx-tile"))) static void release() { _tile_release(); }
  // GCC's tile intrinsics paste their tile number into the assembly text: it must be a literal.
  template <int t>
  __attribute__((target("amx-tile"))) static void zero() {
    if constexpr (t == 0) _tile_zero(0);
    else if constexpr (t == 1) _tile_zero(1);
    else if constexpr (t == 2) _tile_zero(2);
    else _tile_zero(3);
  }
  template <int t>
  __attribute__((target("amx-tile"))) static void load(const void* p, int64_t stride) {
    if constexpr (t == 4) _tile_loadd(4, p, stride);
    else if constexpr (t == 5) _tile_loadd(5, p, stride);
    else if constexpr (t == 6) _tile_loadd(6, p, stride);
    else _tile_loadd(7, p, stride);
  }
  template <int t>
  __attribute__((target("amx-tile"))) static void store(void* p, int64_t stride) {
    if constexpr (t == 0) _tile_stored(0, p, stride);
    else if constexpr (t == 1) _tile_stored(1, p, stride);
    else if constexpr (t == 2) _tile_stored(2, p, stride);
    else _tile_stored(3, p, stride);
  }
  template <int c, int a, int b>
  __attribute__((target("amx-tile,amx-bf16"))) static void dot() {
    static_assert((c == 0 && a == 4 && b == 6) || (c == 1 && a == 4 && b == 7) || (c == 2 && a == 5 && b == 6) ||
                  (c == 3 && a == 5 && b == 7), "the tile assignment of amx_strip");
    if constexpr (c == 0) _tile_dpbf16ps(0, 4, 6);
    else if constexpr (c == 1) _tile_dpbf16ps(1, 4, 7);
    else if constexpr (c == 2) _tile_dpbf16ps(2, 5, 6);
    else _tile_dpbf16ps(3, 5, 7);
  }
};

struct EmulatedTiles {
  static inline thread_local TileShapes shapes{};
  static inline thread_local uint32_t tile[8][16][16];  // 16 rows of 64 bytes
  static void configure(int r0, int r1) {
    shapes = TileShapes::make(r0, r1);
    std::memset(tile, 0, sizeof tile);  // ldtilecfg clears the tiles
  }
  static void release() {}
  template <int t>
  static void zero() { std::memset(tile[t], 0, sizeof tile[t]); }
  template <int t>
  static void load(const void* p, int64_t stride) {
    for (int r = 0; r < shapes.rows[t]; ++r) std::memcpy(tile[t][r], static_cast<const char*>(p) + r * stride, 64);
  }
  template <int t>
  static void store(void* p, int64_t stride) {
    for (int r = 0; r < shapes.rows[t]; ++r) std::memcpy(static_cast<char*>(p) + r * stride, tile[t][r], 64);
  }
  // TDPBF16PS: C[m][n] += Σ_k A[m][k].lo·B[k][n].lo + A[m][k].hi·B[k][n].hi, in F32.
  template <int c, int a, int b>
  static void dot() {
    auto lo = [](uint32_t v) { return bf16_to_f32(static_cast<uint16_t>(v & 0xFFFF)); };
    auto hi = [](uint32_t v) { return bf16_to_f32(static_cast<uint16_t>(v >> 16)); };
    for (int m = 0; m < shapes.rows[c]; ++m)
      for (int n = 0; n < 16; ++n) {
        float acc;
        std::memcpy(&acc, &tile[c][m][n], 4);
        for (int k = 0; k < shapes.rows[b]; ++k)
          acc += lo(tile[a][m][k]) * lo(tile[b][k][n]) + hi(tile[a][m][k]) * hi(tile[b][k][n]);
        std::memcpy(&tile[c][m][n], &acc, 4);
      }
  }
};

// Rows [0, mr) (mr <= 32) of the packed activations times one 64-column panel of pairs (a multiple of
// 16), added into y (columns [0, nb)), or onto first[0, nb) when it is given (the first slice).
template <typename Tiles>
void amx_strip(const uint32_t* a, int64_t kpa, int mr, const uint32_t* bp, int64_t pairs, float* y, int64_t N,
               int64_t nb, const float* first) {
  alignas(64) float c[32][32];
  const bool two = mr > 16;
  for (int half = 0; half < 2 && half * 32 < nb; ++half) {
    Tiles::template zero<0>();
    Tiles::template zero<1>();
    if (two) {
      Tiles::template zero<2>();
      Tiles::template zero<3>();
    }
    for (int64_t p0 = 0; p0 < pairs; p0 += kAmxPairs) {
      const uint32_t* b = bp + p0 * kNR + half * 32;
      Tiles::template load<4>(a + p0, kpa * 4);
      Tiles::template load<6>(b, kNR * 4);
      Tiles::template load<7>(b + 16, kNR * 4);
      Tiles::template dot<0, 4, 6>();
      Tiles::template dot<1, 4, 7>();
      if (two) {
        Tiles::template load<5>(a + 16 * kpa + p0, kpa * 4);
        Tiles::template dot<2, 5, 6>();
        Tiles::template dot<3, 5, 7>();
      }
    }
    Tiles::template store<0>(&c[0][0], 128);
    Tiles::template store<1>(&c[0][16], 128);
    if (two) {
      Tiles::template store<2>(&c[16][0], 128);
      Tiles::template store<3>(&c[16][16], 128);
    }
    const int64_t cols = std::min<int64_t>(32, nb - half * 32);
    for (int i = 0; i < mr; ++i) {
      float* yr = y + i * N + half * 32;
      const float* base = first ? first + half * 32 : yr;
      for (int64_t j = 0; j < cols; ++j) yr[j] = base[j] + c[i][j];
    }
  }
}

// The AMX micro-kernel: strips of up to 32 rows × one 64-column panel, K padded to whole 16-pair
// tiles. Loading a tile configuration clears the tiles, so it happens only when the strip height
// changes (between strips), and the tiles are released when the kernel goes out of scope.
template <typename Tiles>
struct MicroAmx : PackBf16 {
  using Packed = uint32_t;
  static constexpr int kMR = 32, kNR = tl::cpu::kNR;
  static constexpr int64_t kKC = tl::cpu::kKC, kNC = tl::cpu::kNC;
  static int64_t steps(int64_t kb) { return round_up(ceil_div<int64_t>(kb, 2), kAmxPairs); }

  int configured = -1;
  ~MicroAmx() {
    if (configured >= 0) Tiles::release();
  }
  void pack_panel(const void* w, DType wt, int64_t K, int64_t n0, int64_t nb, int64_t k0, int64_t kb, uint32_t* bp) {
    PackBf16::pack_panel(w, wt, K, n0, nb, k0, kb, steps(kb), bp);
  }
  void tile(int mr, const uint32_t* a, int64_t kpa, const uint32_t* bp, int64_t pairs, float* y, int64_t N,
            int64_t nb, const float* first, const LineRuns& next) {
    next.fetch_from(0);
    if (mr != configured) {
      Tiles::configure(std::min(mr, 16), std::max(mr - 16, 0));
      configured = mr;
    }
    amx_strip<Tiles>(a, kpa, mr, bp, pairs, y, N, nb, first);
  }
};

// Activations packed once per call (bf16 pairs, `kp` per row) as the driver's operand source.
inline auto packed_rows(const uint32_t* a, int64_t kp) {
  return [a, kp](int64_t t0, int, int64_t k0, int64_t, int64_t* stride) {
    *stride = kp;
    return a + t0 * kp + k0 / 2;
  };
}

// The AMX GEMM, same contract as gemm_bf16 with activations packed at amx_row_pairs(K) per row.
template <typename Tiles>
void gemm_amx(const uint32_t* a, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y, int64_t N,
              int64_t n_begin, int64_t n_end) {
  MicroAmx<Tiles> micro;
  gemm_drive(micro, packed_rows(a, amx_row_pairs(K)), T, K, w, wt, bias, y, N, n_begin, n_end);
}

// Linux keeps AMX's 8 KB tile state off until a process asks for it (ARCH_REQ_XCOMP_PERM).
bool amx_permitted() {
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

// The AMX kernel against the AVX512_BF16 kernel on one random problem with every kind of tail.
bool amx_self_test() {
  const int64_t T = 37, K = 301, N = 70;
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(T * K), bias(N);
  std::vector<uint16_t> w(N * K);
  for (float& v : x) v = nd(rng);
  for (float& v : bias) v = nd(rng);
  for (uint16_t& v : w) v = f32_to_bf16(nd(rng));
  std::vector<uint32_t> a1(T * avx_row_pairs(K)), a2(T * amx_row_pairs(K));
  pack_activations(x.data(), T, K, a1.data(), avx_row_pairs(K));
  pack_activations(x.data(), T, K, a2.data(), amx_row_pairs(K));
  std::vector<float> y1(T * N), y2(T * N);
  gemm_avx512_bf16(a1.data(), T, K, w.data(), DType::BF16, bias.data(), y1.data(), N, 0, N);
  gemm_amx<AmxTiles>(a2.data(), T, K, w.data(), DType::BF16, bias.data(), y2.data(), N, 0, N);
  double max_ref = 0, max_diff = 0;
  for (int64_t i = 0; i < T * N; ++i) {
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(y1[i])));
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(y1[i]) - y2[i]));
  }
  return max_diff <= 1e-5 * max_ref;
}

struct AmxState {
  bool ready = false;
  std::string status;
};

const AmxState& amx_state() {
  static const AmxState state = [] {
    AmxState s;
    const CpuFeatures& f = cpu_features();
    if (!(f.amx_tile && f.amx_bf16 && f.has_avx512() && f.avx512_bf16)) s.status = "no AMX-BF16 on this CPU";
    else if (!amx_permitted()) s.status = "the OS refused the tile state (arch_prctl ARCH_REQ_XCOMP_PERM)";
    else if (!amx_self_test()) s.status = "off: self-test against the AVX512_BF16 kernel failed";
    else s.ready = true, s.status = "ready (self-test passed)";
    return s;
  }();
  return state;
}

}  // namespace

bool gemm_bf16_available() {
  const CpuFeatures& f = cpu_features();
  return f.has_avx512() && f.avx512_bf16;
}

bool amx_ready() { return amx_state().ready; }
const char* amx_status() { return amx_state().status.c_str(); }

int64_t bf16_pairs(int64_t K, Bf16Kernel kernel) {
  return kernel == Bf16Kernel::Dot ? avx_row_pairs(K) : amx_row_pairs(K);
}

void pack_activations_bf16(const float* x, int64_t T, int64_t K, uint32_t* a, Bf16Kernel kernel) {
  pack_activations(x, T, K, a, bf16_pairs(K, kernel));
}

void gemm_bf16(Bf16Kernel kernel, const uint32_t* a, int64_t T, int64_t K, const void* w, DType wt, const float* bias,
               float* y, int64_t N, int64_t n_begin, int64_t n_end, int64_t kc) {
  switch (kernel) {
    case Bf16Kernel::Dot: return gemm_avx512_bf16(a, T, K, w, wt, bias, y, N, n_begin, n_end, kc);
    case Bf16Kernel::Amx:
      if (!amx_ready()) fail_internal("gemm_bf16: AMX is not ready (%s)", amx_status());
      return gemm_amx<AmxTiles>(a, T, K, w, wt, bias, y, N, n_begin, n_end);
    case Bf16Kernel::AmxEmulated: return gemm_amx<EmulatedTiles>(a, T, K, w, wt, bias, y, N, n_begin, n_end);
  }
}

namespace {

template <int64_t KC, int64_t NC>
void gemm_dot(const uint32_t* a, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y, int64_t N,
              int64_t n_begin, int64_t n_end) {
  MicroBf16T<KC, NC> micro;
  gemm_drive(micro, packed_rows(a, avx_row_pairs(K)), T, K, w, wt, bias, y, N, n_begin, n_end);
}

void gemm_avx512_bf16(const uint32_t* a, int64_t T, int64_t K, const void* w, DType wt, const float* bias, float* y,
                      int64_t N, int64_t n_begin, int64_t n_end, int64_t kc) {
  switch (kc) {  // L1 panels: blocks of kNC columns; L2 panels: one panel per block
    case 128: return gemm_dot<128, kNC>(a, T, K, w, wt, bias, y, N, n_begin, n_end);
    case 512: return gemm_dot<512, kNC>(a, T, K, w, wt, bias, y, N, n_begin, n_end);
    case 1152: return gemm_dot<1152, kNR>(a, T, K, w, wt, bias, y, N, n_begin, n_end);
    case 2304: return gemm_dot<2304, kNR>(a, T, K, w, wt, bias, y, N, n_begin, n_end);
    case 4608: return gemm_dot<4608, kNR>(a, T, K, w, wt, bias, y, N, n_begin, n_end);
    default: return gemm_dot<256, kNC>(a, T, K, w, wt, bias, y, N, n_begin, n_end);
  }
}

}  // namespace

}  // namespace tl::cpu
