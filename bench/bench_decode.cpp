// bench/bench_decode.cpp — the pieces of one decode step (T = 1) of the full-size OpenELM decoder, each
// as a fraction of this machine's read bandwidth measured in the same run, right before it.
//
//   ./build/bench/bench_decode --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Read bandwidth: the best variant of kernels/cpu/ceilings.h (chosen once on a 1 GiB buffer, all
// threads), re-measured before every benchmark run (shared machines swing by 2× within minutes), as
// the counter read_GB/s; pct_read = GB/s ÷ read_GB/s.
//
//   Handoff/spin:S/gap:G   one empty parallel_for after G µs of serial work, the pool spinning up to
//                          S µs (threads.h; S = 0: workers sleep at once, the pool before the spin)
//   Gemv/<shape>/<pages>   ops::matmul at T = 1 (the GEMV of gemv.inc, threaded by gemm.cpp) on F16
//                          or BF16 weights in 2 MiB (huge) or 4 KiB pages, rotating over copies so
//                          every run reads from memory, not the 32 MiB L3
//   GemvQuant/N/K/dt/vnni  the same on Q8 (dt 5) or Q4 (dt 6) weights: the exact F32 GEMV (quant.inc)
//                          or the int8-activation one (vnni 1: gemv_vnni.h); GB/s of codes and scales
//   DecodeMatrices/<pages> every matrix one token reads (20 layers' QKV, out, FFN in and out, and the
//                          32000 × 1536 output head: 914 MB in F16), in model order, as decode runs them;
//                          tok/s is the ceiling these GEMVs leave a decode step
//   AttentionDecode/Hkv:H/f16:F  ops::attention_cached for one query row over 930 cached keys (Dh 64, 4 query
//                          heads per KV head), F32 or F16 cache layers as the engine holds them, K/V
//                          rotating over copies; GB/s of K and V
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/ceilings.h"
#include "kernels/cpu/threads.h"
#include "kernels/ops.h"
#include "tensor/quant.h"
#include "tensor/buffer.h"
#include "weights/file.h"

using namespace tl;

namespace {

const ops::Context kCpu;  // the CPU kernels as the engine runs them (F32 decode path, all threads)

// The bandwidth reference: the best ceilings.h read variant on a 1 GiB buffer, chosen once.
double read_gbs() {
  static const int threads = cpu::hardware_threads();
  static const cpu::ReadBuffer buf(size_t{1} << 30, threads);
  static const std::vector<cpu::ReadKernel> best = [] {
    const cpu::ReadBandwidth r = cpu::read_bandwidth(buf, cpu::read_kernels(), threads, 2);
    std::vector<cpu::ReadKernel> v;
    for (const cpu::ReadKernel& k : cpu::read_kernels())
      if (k.name == r.variant) v.push_back(k);
    return v;
  }();
  return cpu::read_bandwidth(buf, best, threads, 3).gbs;
}

using Clock = std::chrono::steady_clock;

// GB/s of `bytes` per iteration over the timed loop that began at t0, the read bandwidth measured
// before it, and their ratio in %.
void report(benchmark::State& state, Clock::time_point t0, double bytes, double read) {
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const double gbs = bytes * static_cast<double>(state.iterations()) / seconds / 1e9;
  state.counters["GB/s"] = gbs;
  state.counters["read_GB/s"] = read;
  state.counters["pct_read"] = 100 * gbs / read;
}

// Weights of `bytes` in huge pages (HugePageMemory) or 4 KiB pages (mmap without MADV_HUGEPAGE).
struct WeightMemory {
  HugePageMemory huge;
  Buffer small;
  uint8_t* data = nullptr;
  WeightMemory(size_t bytes, bool huge_pages) {
    if (huge_pages) {
      huge = HugePageMemory(bytes);
      data = huge.data();
    }
    if (!data) {  // 4 KiB pages asked for, or no THP here; glibc maps big blocks without MADV_HUGEPAGE
      small = Buffer(bytes);
      data = static_cast<uint8_t*>(small.data());
    }
    std::mt19937 rng(7);
    uint16_t* p = reinterpret_cast<uint16_t*>(data);
    for (size_t i = 0; i < bytes / 2; ++i) p[i] = 0x2000 + static_cast<uint16_t>(rng() & 0x0fff);  // small finite f16/bf16
  }
};

OwnedTensor activations(int64_t n) {
  OwnedTensor x = OwnedTensor::empty(DType::F32, {1, n});
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int64_t i = 0; i < n; ++i) x.tensor.ptr<float>()[i] = nd(rng);
  return x;
}

// Args: gap µs, spin µs. Manual time: only the parallel_for is timed.
void BM_Handoff(benchmark::State& state) {
  const auto gap = std::chrono::microseconds(state.range(0));
  const cpu::Team team{0, static_cast<int>(state.range(1))};
  for (auto _ : state) {
    const auto g0 = Clock::now();
    while (Clock::now() - g0 < gap) {
    }
    const auto t0 = Clock::now();
    cpu::parallel_for(team, team.size(), [](int64_t, int64_t) {});
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - t0).count());
  }
}

// Args: N, K, dtype (1 f16, 2 bf16), huge pages (0/1).
void BM_Gemv(benchmark::State& state) {
  const int64_t N = state.range(0), K = state.range(1);
  const DType dt = state.range(2) == 1 ? DType::F16 : DType::BF16;
  const size_t bytes = static_cast<size_t>(N * K) * 2;
  const int copies = static_cast<int>(std::max<size_t>(2, (size_t{256} << 20) / bytes));  // >= 256 MB in all
  WeightMemory mem(bytes * copies, state.range(3) != 0);
  OwnedTensor x = activations(K), y = OwnedTensor::empty(DType::F32, {1, N});
  const double read = read_gbs();
  int c = 0;
  const auto t0 = Clock::now();
  for (auto _ : state) {
    const Tensor w = Tensor::view(mem.data + bytes * c, dt, {N, K});
    ops::matmul(kCpu, x.tensor, w, nullptr, y.tensor);
    c = (c + 1) % copies;
  }
  report(state, t0, static_cast<double>(bytes), read);
}

// Args: N, K, dtype (5 Q8, 6 Q4), path (0: the F32 GEMV of the exact path, 1: int8 activations on
// VNNI, the bf16 path's). GB/s of codes and scales.
void BM_GemvQuant(benchmark::State& state) {
  const int64_t N = state.range(0), K = state.range(1);
  const DType dt = static_cast<DType>(state.range(2));
  ops::Options o;
  o.precision = state.range(3) ? ops::Precision::BF16 : ops::Precision::F32;
  const ops::Context ctx(o);
  if (state.range(3) && !ctx.cpu().int8_gemv) return state.SkipWithError("no AVX512_VNNI int8 GEMV on this CPU");
  const size_t codes = static_cast<size_t>(N * quant_row_bytes(dt, K));
  const size_t bytes = codes + static_cast<size_t>(N * quant_groups(K)) * 2;
  const int copies = static_cast<int>(std::max<size_t>(2, (size_t{256} << 20) / bytes));
  WeightMemory mem(bytes * copies, true);  // f16-like bit patterns: small finite scales, any codes
  OwnedTensor x = activations(K), y = OwnedTensor::empty(DType::F32, {1, N});
  const double read = read_gbs();
  int c = 0;
  const auto t0 = Clock::now();
  for (auto _ : state) {
    Tensor w = Tensor::view(mem.data + bytes * c, dt, {N, K});
    w.scales = reinterpret_cast<const uint16_t*>(mem.data + bytes * c + codes);
    ops::matmul(ctx, x.tensor, w, nullptr, y.tensor);
    c = (c + 1) % copies;
  }
  report(state, t0, static_cast<double>(bytes), read);
}

// The decoder's matrices, in the order one decode step reads them: {N, K} per matrix.
std::vector<std::pair<int64_t, int64_t>> decode_matrices() {
  const int heads[20] = {12, 12, 12, 16, 16, 16, 16, 16, 16, 16, 20, 20, 20, 20, 20, 20, 24, 24, 24, 24};
  const int ffn[20] = {768, 1024, 1280, 1536, 1792, 2304, 2560, 2816, 3072, 3328,
                       3584, 3840, 4096, 4352, 4608, 5120, 5376, 5632, 5888, 6144};
  const int64_t D = 1536, Dh = 64;
  std::vector<std::pair<int64_t, int64_t>> m;
  for (int l = 0; l < 20; ++l) {
    m.push_back({(heads[l] + 2 * heads[l] / 4) * Dh, D});  // qkv_proj
    m.push_back({D, heads[l] * Dh});                        // out_proj
    m.push_back({2 * ffn[l], D});                           // proj_1 (gate | up)
    m.push_back({D, ffn[l]});                               // proj_2
  }
  m.push_back({32000, D});  // output head (tied embeddings)
  return m;
}

// Args: huge pages (0/1).
void BM_DecodeMatrices(benchmark::State& state) {
  const auto shapes = decode_matrices();
  size_t total = 0;
  for (const auto& s : shapes) total += static_cast<size_t>(s.first * s.second) * 2;
  WeightMemory mem(total, state.range(0) != 0);
  std::vector<Tensor> w;
  size_t off = 0;
  for (const auto& s : shapes) {
    w.push_back(Tensor::view(mem.data + off, DType::F16, {s.first, s.second}));
    off += static_cast<size_t>(s.first * s.second) * 2;
  }
  OwnedTensor x = activations(8192), y = OwnedTensor::empty(DType::F32, {1, 32000});
  const double read = read_gbs();
  const auto t0 = Clock::now();
  for (auto _ : state)
    for (const Tensor& m : w) {
      const Tensor xi = Tensor::view(x.tensor.data, DType::F32, {1, m.shape[1]});
      Tensor yi = Tensor::view(y.tensor.data, DType::F32, {1, m.shape[0]});
      ops::matmul(kCpu, xi, m, nullptr, yi);
    }
  report(state, t0, static_cast<double>(total), read);
  state.counters["tok/s"] = state.counters["GB/s"] * 1e9 / static_cast<double>(total);
}

// Args: Hkv, cache dtype (0 F32: the exact path's; 1 F16: the bf16 path's).
void BM_AttentionDecode(benchmark::State& state) {
  const int64_t Hkv = state.range(0), H = 4 * Hkv, Dh = 64, S = 930;
  const DType dt = state.range(1) ? DType::F16 : DType::F32;
  const size_t kv_bytes = static_cast<size_t>(2 * S * Hkv * Dh) * dtype_size(dt);
  const int copies = static_cast<int>(std::max<size_t>(2, (size_t{128} << 20) / kv_bytes));
  std::vector<OwnedTensor> k, v;
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  OwnedTensor f = OwnedTensor::empty(DType::F32, {S, Hkv, Dh});
  for (int c = 0; c < copies; ++c) {  // cache layers as the engine holds them (head-major on the CPU)
    k.push_back(OwnedTensor::empty(dt, ops::kv_cache_shape(Device::CPU, S, Hkv, Dh)));
    v.push_back(OwnedTensor::empty(dt, ops::kv_cache_shape(Device::CPU, S, Hkv, Dh)));
    for (OwnedTensor* t : {&k.back(), &v.back()}) {
      for (int64_t i = 0; i < f.tensor.numel(); ++i) f.tensor.ptr<float>()[i] = nd(rng);
      ops::kv_write(kCpu, f.tensor, t->tensor, 0);
    }
  }
  OwnedTensor q = activations(H * Dh), out = OwnedTensor::empty(DType::F32, {1, H, Dh});
  const Tensor q3 = q.tensor.reshape({1, H, Dh});
  const double read = read_gbs();
  int c = 0;
  const auto t0 = Clock::now();
  for (auto _ : state) {
    ops::attention_cached(kCpu, q3, k[c].tensor, v[c].tensor, S, out.tensor, 0.125f, S - 1);
    c = (c + 1) % copies;
  }
  report(state, t0, static_cast<double>(kv_bytes), read);
}

}  // namespace

BENCHMARK(BM_GemvQuant)->ArgNames({"N", "K", "dt", "vnni"})
    ->ArgsProduct({{12288}, {1536}, {5, 6}, {0, 1}})->Args({1536, 6144, 5, 1})->Args({1536, 6144, 6, 1})
    ->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Handoff)->ArgNames({"gap_us", "spin"})->ArgsProduct({{5, 200}, {0, cpu::kDefaultSpinMicros}})
    ->UseManualTime()->Unit(benchmark::kMicrosecond);
// N, K, dtype, huge pages: the output head, then the last layer's (largest) QKV, out, FFN in and out.
BENCHMARK(BM_Gemv)->ArgNames({"N", "K", "dt", "huge"})
    ->Args({32000, 1536, 1, 1})->Args({32000, 1536, 1, 0})->Args({32000, 1536, 2, 1})
    ->Args({2304, 1536, 1, 1})->Args({1536, 1536, 1, 1})->Args({12288, 1536, 1, 1})->Args({1536, 6144, 1, 1})
    ->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DecodeMatrices)->ArgNames({"huge"})->Arg(1)->Arg(0)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AttentionDecode)->ArgNames({"Hkv", "f16"})->ArgsProduct({{3, 4, 5, 6}, {0, 1}})->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
