// kernels/cpu/ceilings.cpp — read bandwidth and compute peaks of this machine (contract in ceilings.h).
//
// Every ISA-specific loop is a function with __attribute__((target(...))), so this file compiles
// without -m flags and runs on any x86-64 CPU; cpu_features() decides at run time which loops may run.
// The instruction families a compiler may lack (AVX512_BF16, VNNI, AMX) are compiled only where CMake
// found the compiler supports them (TL_CC_* definitions, CMakeLists.txt).
#include "kernels/cpu/ceilings.h"

#include <cpuid.h>
#include <sys/mman.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/threads.h"
#include "tensor/arith.h"
#include "tensor/clock.h"
#include "tensor/error.h"

namespace tl::cpu {

namespace {

// ---- Read kernels ------------------------------------------------------------------------------------
// Each step reads one 256-byte block (four 64-byte lines) from each of kStreams sub-slices into four
// independent accumulators; kAhead > 0 prefetches the block kAhead bytes further on in each stream.

constexpr size_t kBlockWords = 64;  // 256 bytes

uint32_t sum_words(const uint32_t* p, size_t begin, size_t end) {
  uint32_t s = 0;
  for (size_t i = begin; i < end; ++i) s += p[i];
  return s;
}

template <int kAhead>
inline void prefetch_block(const uint32_t* q) {
  if (kAhead == 0) return;
  const char* c = reinterpret_cast<const char*>(q) + kAhead;
  for (int line = 0; line < 4; ++line) _mm_prefetch(c + 64 * line, _MM_HINT_T0);
}

template <int kStreams, int kAhead>
__attribute__((target("avx512f"))) uint32_t read_avx512(const uint32_t* p, size_t n) {
  const size_t per = n / kStreams / kBlockWords * kBlockWords;  // words per stream, whole blocks
  __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  for (size_t i = 0; i < per; i += kBlockWords)
    for (int s = 0; s < kStreams; ++s) {
      const uint32_t* q = p + s * per + i;
      prefetch_block<kAhead>(q);
      acc0 = _mm512_add_epi32(acc0, _mm512_loadu_si512(q));
      acc1 = _mm512_add_epi32(acc1, _mm512_loadu_si512(q + 16));
      acc2 = _mm512_add_epi32(acc2, _mm512_loadu_si512(q + 32));
      acc3 = _mm512_add_epi32(acc3, _mm512_loadu_si512(q + 48));
    }
  alignas(64) uint32_t lanes[16];
  _mm512_store_si512(lanes, _mm512_add_epi32(_mm512_add_epi32(acc0, acc1), _mm512_add_epi32(acc2, acc3)));
  return sum_words(lanes, 0, 16) + sum_words(p, kStreams * per, n);
}

template <int kStreams, int kAhead>
__attribute__((target("avx2"))) uint32_t read_avx2(const uint32_t* p, size_t n) {
  const size_t per = n / kStreams / kBlockWords * kBlockWords;
  __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  for (size_t i = 0; i < per; i += kBlockWords)
    for (int s = 0; s < kStreams; ++s) {
      const uint32_t* q = p + s * per + i;
      prefetch_block<kAhead>(q);
      for (size_t j = 0; j < kBlockWords; j += 32) {
        acc0 = _mm256_add_epi32(acc0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + j)));
        acc1 = _mm256_add_epi32(acc1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + j + 8)));
        acc2 = _mm256_add_epi32(acc2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + j + 16)));
        acc3 = _mm256_add_epi32(acc3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + j + 24)));
      }
    }
  alignas(32) uint32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes),
                     _mm256_add_epi32(_mm256_add_epi32(acc0, acc1), _mm256_add_epi32(acc2, acc3)));
  return sum_words(lanes, 0, 8) + sum_words(p, kStreams * per, n);
}

uint32_t read_generic(const uint32_t* p, size_t n) { return sum_words(p, 0, n); }

using ReadFn = uint32_t (*)(const uint32_t*, size_t);
struct ReadVariant {
  int streams, ahead;
  ReadFn avx512, avx2;
};
const ReadVariant kReadVariants[] = {
    {1, 0, read_avx512<1, 0>, read_avx2<1, 0>},          {2, 0, read_avx512<2, 0>, read_avx2<2, 0>},
    {4, 0, read_avx512<4, 0>, read_avx2<4, 0>},          {1, 1024, read_avx512<1, 1024>, read_avx2<1, 1024>},
    {2, 1024, read_avx512<2, 1024>, read_avx2<2, 1024>}, {4, 1024, read_avx512<4, 1024>, read_avx2<4, 1024>},
    {1, 4096, read_avx512<1, 4096>, read_avx2<1, 4096>}, {2, 4096, read_avx512<2, 4096>, read_avx2<2, 4096>},
    {4, 4096, read_avx512<4, 4096>, read_avx2<4, 4096>},
};

ReadKernel make_read_kernel(const char* isa, const ReadVariant& v) {
  std::string name = strfmt("%s x%d stream%s, ", isa, v.streams, v.streams > 1 ? "s" : "");
  name += v.ahead ? strfmt("prefetch %d KiB", v.ahead / 1024) : std::string("no prefetch");
  return {name, isa, std::string(isa) == "avx512" ? v.avx512 : v.avx2};
}

// Thread i of `parts` reads words [begin, end) of n: whole 4 KiB pages, the last slice takes the rest.
void slice(size_t n, int parts, int i, size_t* begin, size_t* end) {
  const size_t per = n / static_cast<size_t>(parts) / 1024 * 1024;
  *begin = per * static_cast<size_t>(i);
  *end = i + 1 == parts ? n : *begin + per;
}

// One sweep of `buf` by `threads` threads (each its own slice); seconds, and the sum of the words.
double timed_sweep(const ReadKernel& k, const ReadBuffer& buf, int threads, uint32_t* checksum) {
  std::vector<uint32_t> part(static_cast<size_t>(threads));
  auto t0 = Clock::now();
  if (threads == 1) {
    part[0] = k.sum(buf.words(), buf.size());
  } else {
    parallel_for(Team{threads}, threads, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        size_t lo, hi;
        slice(buf.size(), threads, static_cast<int>(i), &lo, &hi);
        part[i] = k.sum(buf.words() + lo, hi - lo);
      }
    });
  }
  const double s = seconds_since(t0);
  *checksum = 0;
  for (uint32_t x : part) *checksum += x;
  return s;
}

// ---- Compute loops -------------------------------------------------------------------------------------
// Each runs `steps` steps of independent accumulator chains and returns a value that depends on all of
// them (so nothing can be dropped). FLOP (or OP) per step are given with each loop's registration.

constexpr int kZmmChains = 24, kYmmChains = 12;

__attribute__((target("avx512f"))) float sum_zmm(const __m512* acc, int n) {
  __m512 s = acc[0];
  for (int i = 1; i < n; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  float r = 0;
  for (float x : lanes) r += x;
  return r;
}

__attribute__((target("avx512f"))) float fma_zmm(int64_t steps) {
  __m512 acc[kZmmChains];
  for (int i = 0; i < kZmmChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
  for (int64_t s = 0; s < steps; ++s)
#pragma GCC unroll 24
    for (int i = 0; i < kZmmChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  return sum_zmm(acc, kZmmChains);
}

__attribute__((target("avx2,fma"))) float fma_ymm(int64_t steps) {
  __m256 acc[kYmmChains];
  for (int i = 0; i < kYmmChains; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
  for (int64_t s = 0; s < steps; ++s)
#pragma GCC unroll 12
    for (int i = 0; i < kYmmChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  alignas(32) float lanes[8];
  float r = 0;
  for (int i = 0; i < kYmmChains; ++i) {
    _mm256_store_ps(lanes, acc[i]);
    for (float x : lanes) r += x;
  }
  return r;
}

// SSE2 has no FMA: the generic table's GEMM issues mulps and addps, which run on separate pipes on
// most cores, so its peak is both kinds at once: 6 chains of each (14 of the 16 xmm registers with
// the two operands). a is 1 (read through a volatile, so it cannot be folded away): the products
// never drift into subnormals, whose slow path would understate the peak.
float muladd_xmm(int64_t steps) {
  constexpr int kChains = 6;
  volatile float one = 1.0f;
  const __m128 a = _mm_set1_ps(one), b = _mm_set1_ps(0.001f);
  __m128 mul[kChains], add[kChains];
  for (int i = 0; i < kChains; ++i) mul[i] = add[i] = _mm_set1_ps(static_cast<float>(i + 1));
  for (int64_t s = 0; s < steps; ++s)
#pragma GCC unroll 6
    for (int i = 0; i < kChains; ++i) mul[i] = _mm_mul_ps(mul[i], a), add[i] = _mm_add_ps(add[i], b);
  alignas(16) float lanes[4];
  float r = 0;
  for (int i = 0; i < kChains; ++i) {
    _mm_store_ps(lanes, _mm_add_ps(mul[i], add[i]));
    for (float x : lanes) r += x;
  }
  return r;
}

#if TL_CC_AVX512_BF16
__attribute__((target("avx512f,avx512bf16"))) float dpbf16_zmm(int64_t steps) {
  __m512 acc[kZmmChains];
  for (int i = 0; i < kZmmChains; ++i) acc[i] = _mm512_setzero_ps();
  const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3a803a80);  // bf16 pairs of 2^-10
  for (int64_t s = 0; s < steps; ++s)
#pragma GCC unroll 24
    for (int i = 0; i < kZmmChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, a);
  return sum_zmm(acc, kZmmChains);
}
#endif

#if TL_CC_AVX512_VNNI
__attribute__((target("avx512f,avx512vnni"))) float dpbusd_zmm(int64_t steps) {
  __m512i acc[kZmmChains];
  for (int i = 0; i < kZmmChains; ++i) acc[i] = _mm512_setzero_si512();
  const __m512i a = _mm512_set1_epi8(1);
  for (int64_t s = 0; s < steps; ++s)
#pragma GCC unroll 24
    for (int i = 0; i < kZmmChains; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, a);
  alignas(64) int32_t lanes[16];
  int32_t r = 0;
  for (int i = 0; i < kZmmChains; ++i) {
    _mm512_store_si512(lanes, acc[i]);
    for (int32_t x : lanes) r += x;
  }
  return static_cast<float>(r);
}
#endif

#if TL_CC_AVX_VNNI
__attribute__((target("avx2,avxvnni"))) float dpbusd_ymm(int64_t steps) {
  __m256i acc[kYmmChains];
  for (int i = 0; i < kYmmChains; ++i) acc[i] = _mm256_setzero_si256();
  const __m256i a = _mm256_set1_epi8(1);
  for (int64_t s = 0; s < steps; ++s)
#pragma GCC unroll 12
    for (int i = 0; i < kYmmChains; ++i) acc[i] = _mm256_dpbusd_avx_epi32(acc[i], a, a);
  alignas(32) int32_t lanes[8];
  int32_t r = 0;
  for (int i = 0; i < kYmmChains; ++i) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc[i]);
    for (int32_t x : lanes) r += x;
  }
  return static_cast<float>(r);
}
#endif

#if TL_CC_AMX
// Palette 1, tiles 0-7 all 16 rows × 64 bytes. Tiles 0-3: C (fp32 16×16); 4, 5: A (16 × 32 bf16);
// 6, 7: B (16 bf16 pairs × 16 columns). Each step: C[2i+j] += A[i]·B[j], four independent tiles.
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

__attribute__((target("amx-tile,amx-bf16"))) float tdpbf16ps_tiles(int64_t steps) {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) cfg.colsb[t] = 64, cfg.rows[t] = 16;
  alignas(64) uint16_t src[16 * 32];
  std::fill(src, src + 16 * 32, uint16_t{0x3a80});
  alignas(64) float c[4][16 * 16];
  _tile_loadconfig(&cfg);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, src, 64);
  _tile_loadd(5, src, 64);
  _tile_loadd(6, src, 64);
  _tile_loadd(7, src, 64);
  for (int64_t s = 0; s < steps; ++s) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, c[0], 64);
  _tile_stored(1, c[1], 64);
  _tile_stored(2, c[2], 64);
  _tile_stored(3, c[3], 64);
  _tile_release();
  float r = 0;
  for (const auto& tile : c)
    for (float x : tile) r += x;
  return r;
}
#endif

using ComputeLoop = float (*)(int64_t steps);

// Seconds for every one of `threads` threads to run loop(steps); the loops' results go to *sink.
double timed_loop(ComputeLoop loop, int64_t steps, int threads, float* sink) {
  std::vector<float> out(static_cast<size_t>(threads));
  auto t0 = Clock::now();
  if (threads == 1) {
    out[0] = loop(steps);
  } else {
    parallel_for(Team{threads}, threads, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = loop(steps);
    });
  }
  const double s = seconds_since(t0);
  for (float x : out) *sink += x;
  return s;
}

// Steps of `loop` that take ~20 ms on one thread.
int64_t calibrate(ComputeLoop loop, float* sink) {
  constexpr double kTargetS = 0.02;
  int64_t steps = 1024;
  double s = timed_loop(loop, steps, 1, sink);
  while (s < 2e-3) s = timed_loop(loop, steps *= 4, 1, sink);
  return std::max<int64_t>(1, static_cast<int64_t>(steps * kTargetS / s));
}

// Best of 3 runs on one thread and on all threads, alternating, so that both see the same neighbours
// on a shared machine.
ComputePeak measure_peak(const char* isa, ComputeLoop loop, double op_per_step, int threads) {
  float sink = 0;
  const int64_t steps = calibrate(loop, &sink);
  double best_one = 1e30, best_all = 1e30;
  for (int r = 0; r < 3; ++r) {
    best_one = std::min(best_one, timed_loop(loop, steps, 1, &sink));
    if (threads > 1) best_all = std::min(best_all, timed_loop(loop, steps, threads, &sink));
  }
  volatile float keep = sink;  // the loops' results are used: nothing can be optimised away
  (void)keep;
  ComputePeak p;
  p.isa = isa;
  p.single = op_per_step * static_cast<double>(steps) / best_one / 1e9;
  p.all = threads > 1 ? op_per_step * static_cast<double>(steps) * threads / best_all / 1e9 : p.single;
  return p;
}

std::string cpuinfo_model_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      std::string v = line.substr(line.find(':') + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "";
}

std::string cpuid_brand() {
  unsigned r[12] = {};
  for (unsigned leaf = 0; leaf < 3; ++leaf)
    if (!__get_cpuid(0x80000002 + leaf, &r[4 * leaf], &r[4 * leaf + 1], &r[4 * leaf + 2], &r[4 * leaf + 3])) return "";
  char s[49] = {};
  std::memcpy(s, r, 48);
  std::string v(s);
  v.erase(0, v.find_first_not_of(' '));
  return v;
}

}  // namespace

// ---- Public ------------------------------------------------------------------------------------------

std::vector<ReadKernel> read_kernels(IsaCap cap) {
  const CpuFeatures& f = cpu_features();
  const bool avx512 = f.avx512f && isa_allows(cap, IsaCap::Avx512), avx2 = f.avx2 && isa_allows(cap, IsaCap::Avx2);
  std::vector<ReadKernel> k;
  const char* best = avx512 ? "avx512" : avx2 ? "avx2" : nullptr;
  if (best)
    for (const ReadVariant& v : kReadVariants) k.push_back(make_read_kernel(best, v));
  if (avx512 && avx2) k.push_back(make_read_kernel("avx2", kReadVariants[1]));
  k.push_back({"generic x1 stream, no prefetch", "generic", read_generic});
  return k;
}

void ReadBuffer::Free::operator()(uint32_t* p) const { std::free(p); }

ReadBuffer::ReadBuffer(size_t bytes, int threads) {
  bytes = std::max<size_t>(4096, bytes / 4096 * 4096);
  // 2 MiB aligned and marked for transparent huge pages: faulting in 512 MiB of 4 KiB pages costs
  // over a second in a VM; 2 MiB pages cost a few ms (and spare the sweeps TLB misses).
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t capacity = round_up<size_t>(bytes, kHuge);
  words_.reset(static_cast<uint32_t*>(std::aligned_alloc(kHuge, capacity)));
  if (!words_) throw std::bad_alloc();
  ::madvise(words_.get(), capacity, MADV_HUGEPAGE);  // advice only: a kernel without THP ignores it
  n_ = bytes / sizeof(uint32_t);
  uint32_t* w = words_.get();
  parallel_for(Team{threads}, threads, [&](int64_t b, int64_t e) {  // first touch by the thread that reads the slice
    for (int64_t i = b; i < e; ++i) {
      size_t lo, hi;
      slice(n_, threads, static_cast<int>(i), &lo, &hi);
      for (size_t j = lo; j < hi; ++j) w[j] = static_cast<uint32_t>(j * 2654435761u);
    }
  });
}

ReadBandwidth read_bandwidth(const ReadBuffer& buf, const std::vector<ReadKernel>& kernels, int threads,
                             int repetitions) {
  TL_CHECK(threads >= 1 && repetitions >= 1 && !kernels.empty());
  ReadBandwidth best;
  best.threads = threads;
  for (const ReadKernel& k : kernels)
    for (int r = 0; r < repetitions; ++r) {
      uint32_t sum = 0;
      const double gbs = static_cast<double>(buf.bytes()) / timed_sweep(k, buf, threads, &sum) / 1e9;
      if (gbs > best.gbs) best.gbs = gbs, best.variant = k.name, best.checksum = sum;
    }
  return best;
}

ComputePeak peak_fp32_fma(int threads, IsaCap cap) {
  const CpuFeatures& f = cpu_features();
  if (f.avx512f && f.fma && isa_allows(cap, IsaCap::Avx512))
    return measure_peak("avx512", fma_zmm, kZmmChains * 16 * 2, threads);
  if (f.avx2 && f.fma && isa_allows(cap, IsaCap::Avx2)) return measure_peak("avx2", fma_ymm, kYmmChains * 8 * 2, threads);
  return measure_peak("sse2 mul+add", muladd_xmm, 2 * 6 * 4, threads);  // every x86-64 CPU
}

ComputePeak peak_bf16_dot(int threads, IsaCap cap) {
#if TL_CC_AVX512_BF16
  if (cpu_features().avx512_bf16 && isa_allows(cap, IsaCap::Avx512))
    return measure_peak("avx512", dpbf16_zmm, kZmmChains * 32 * 2, threads);
#endif
  (void)threads, (void)cap;
  return {};
}

ComputePeak peak_int8_dot(int threads, IsaCap cap) {
#if TL_CC_AVX512_VNNI
  if (cpu_features().avx512f && cpu_features().avx512_vnni && isa_allows(cap, IsaCap::Avx512))
    return measure_peak("avx512", dpbusd_zmm, kZmmChains * 64 * 2, threads);
#endif
#if TL_CC_AVX_VNNI
  if (cpu_features().avx2 && cpu_features().avx_vnni && isa_allows(cap, IsaCap::Avx2))
    return measure_peak("avx-vnni", dpbusd_ymm, kYmmChains * 32 * 2, threads);
#endif
  (void)threads, (void)cap;
  return {};
}

ComputePeak peak_amx_bf16(int threads, IsaCap cap) {
#if TL_CC_AMX
  if (cpu_features().amx_bf16 && amx_ready() && isa_allows(cap, IsaCap::Amx))
    return measure_peak("amx", tdpbf16ps_tiles, 4 * 16 * 16 * 32 * 2, threads);
#endif
  (void)threads, (void)cap;
  return {};
}

std::string cpu_name() {
  std::string name = cpuinfo_model_name();
  if (name.empty()) name = cpuid_brand();
  if (name.empty()) name = "unknown CPU";
  unsigned a = 0, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return name;
  const unsigned base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
  const unsigned family = base_family == 0xf ? base_family + ((a >> 20) & 0xff) : base_family;
  const unsigned model = base_family == 0x6 || base_family == 0xf ? base_model + (((a >> 16) & 0xf) << 4) : base_model;
  return strfmt("%s (family %u, model %u)", name.c_str(), family, model);
}

Ceilings measure_ceilings(int threads, size_t read_buffer_bytes, IsaCap cap) {
  Ceilings c;
  c.cpu = cpu_name();
  c.cap = cap;
  c.threads = threads;
  {
    ReadBuffer buf(read_buffer_bytes, threads);
    c.read_buffer_bytes = buf.bytes();
    const std::vector<ReadKernel> all = read_kernels(cap);
    c.read_all = read_bandwidth(buf, all, c.threads);
    std::vector<ReadKernel> best_isa;
    for (const ReadKernel& k : all)
      if (k.isa == all[0].isa) best_isa.push_back(k);
    c.read_single = c.threads > 1 ? read_bandwidth(buf, best_isa, 1, 2) : c.read_all;
  }
  c.fp32_fma = peak_fp32_fma(c.threads, cap);
  c.bf16_dot = peak_bf16_dot(c.threads, cap);
  c.int8_dot = peak_int8_dot(c.threads, cap);
  c.amx_bf16 = peak_amx_bf16(c.threads, cap);
  return c;
}

}  // namespace tl::cpu
