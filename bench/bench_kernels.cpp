// bench/bench_kernels.cpp — the CPU kernels at the real model's shapes, with Eigen's F32 GEMM/GEMV on
// the same shapes in the same run as the baseline (Eigen multi-threaded with OpenMP when available).
// Rates: GFLOP/s for GEMM and attention, GB/s of weights read for GEMV (decode).
//
//   ./build/bench/bench_kernels --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/threads.h"
#include "kernels/ops.h"
#include "kernels/ref/ref.h"
#include "tensor/buffer.h"
#ifdef TINYLLAVA_HAVE_EIGEN
#include <Eigen/Core>
#endif

using namespace tl;

namespace {

const ops::Context kF32;              // the CPU kernels, F32, all threads
// The same kernels with --precision bf16, or null where this CPU lacks AVX512_BF16.
const ops::Context* bf16_context() {
  static const std::unique_ptr<ops::Context> c = [] {
    ops::Options o;
    o.precision = ops::Precision::BF16;
    return ops::bf16_supported() ? std::make_unique<ops::Context>(o) : nullptr;
  }();
  return c.get();
}

OwnedTensor filled(DType dt, const std::vector<int64_t>& shape, float scale) {
  OwnedTensor f = OwnedTensor::empty(DType::F32, shape);
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, scale);
  for (int64_t i = 0; i < f.tensor.numel(); ++i) f.tensor.ptr<float>()[i] = nd(rng);
  if (dt == DType::F32) return f;
  OwnedTensor t = OwnedTensor::empty(dt, shape);
  convert_from_f32(f.tensor.ptr<float>(), t.tensor.data, dt, static_cast<size_t>(f.tensor.numel()));
  return t;
}

// Args: T, K, N, dtype (0 f32, 1 f16, 2 bf16); c: kF32 or bf16_context().
void BM_Matmul(benchmark::State& state, const ops::Context* c) {
  if (!c) return state.SkipWithError("no AVX512_BF16 on this CPU");
  const int64_t T = state.range(0), K = state.range(1), N = state.range(2);
  const DType dt = state.range(3) == 0 ? DType::F32 : state.range(3) == 1 ? DType::F16 : DType::BF16;
  OwnedTensor x = filled(DType::F32, {T, K}, 1.0f), w = filled(dt, {N, K}, 0.02f), y = OwnedTensor::empty(DType::F32, {T, N});
  for (auto _ : state) {
    ops::matmul(*c, x.tensor, w.tensor, nullptr, y.tensor);
    benchmark::DoNotOptimize(y.tensor.data);
  }
  const double flops = 2.0 * T * K * N;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s(w)"] = benchmark::Counter(N * K * dtype_size(dt) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

#ifdef TINYLLAVA_HAVE_EIGEN
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
void BM_EigenMatmul(benchmark::State& state) {
  const int64_t T = state.range(0), K = state.range(1), N = state.range(2);
  RowMat x = RowMat::Random(T, K), w = RowMat::Random(N, K), y(T, N);
  for (auto _ : state) {
    y.noalias() = x * w.transpose();
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * T * K * N * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s(w)"] = benchmark::Counter(N * K * 4 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
#endif

// Args: T (queries), S (keys), H, Hkv, Dh, causal (0/1); c: kF32 or bf16_context().
void BM_Attention(benchmark::State& state, const ops::Context* c) {
  if (!c) return state.SkipWithError("no AVX512_BF16 on this CPU");
  const int64_t T = state.range(0), S = state.range(1), H = state.range(2), Hkv = state.range(3), Dh = state.range(4);
  const bool causal = state.range(5) != 0;
  OwnedTensor q = filled(DType::F32, {T, H, Dh}, 1.0f), k = filled(DType::F32, {S, Hkv, Dh}, 1.0f);
  OwnedTensor v = filled(DType::F32, {S, Hkv, Dh}, 1.0f), o = OwnedTensor::empty(DType::F32, {T, H, Dh});
  for (auto _ : state) {
    ops::attention(*c, q.tensor, k.tensor, v.tensor, o.tensor, 1.0f / std::sqrt(static_cast<float>(Dh)),
                   causal ? S - T : ops::kNonCausal);
    benchmark::DoNotOptimize(o.tensor.data);
  }
  const double pairs = causal ? T * (S - T) + T * (T + 1) / 2.0 : static_cast<double>(T) * S;
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * pairs * H * Dh * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_PatchEmbed(benchmark::State& state) {
  OwnedTensor px = filled(DType::F32, {3, 384, 384}, 1.0f), w = filled(DType::F16, {1152, 3, 14, 14}, 0.02f);
  OwnedTensor b = filled(DType::F16, {1152}, 0.02f), out = OwnedTensor::empty(DType::F32, {729, 1152});
  for (auto _ : state) {
    ops::patch_embed(kF32, px.tensor, w.tensor, b.tensor, out.tensor);
    benchmark::DoNotOptimize(out.tensor.data);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 729 * 588 * 1152 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The MLP activations at their model shapes: SigLIP's fc1 output (GELU, tanh form, in place) and
// OpenELM's last layer's gate | up (SiLU(gate) · up). GB/s of activations read and written.
void BM_GeluTanh(benchmark::State& state) {
  OwnedTensor x = filled(DType::F32, {729, 4304}, 1.0f);
  for (auto _ : state) {
    ops::gelu_tanh(kF32, x.tensor);
    benchmark::DoNotOptimize(x.tensor.data);
  }
  state.counters["GB/s"] = benchmark::Counter(2.0 * 729 * 4304 * 4 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_SiluMul(benchmark::State& state) {
  OwnedTensor gu = filled(DType::F32, {774, 2 * 6144}, 1.0f), out = OwnedTensor::empty(DType::F32, {774, 6144});
  for (auto _ : state) {
    ops::silu_mul(kF32, gu.tensor, out.tensor);
    benchmark::DoNotOptimize(out.tensor.data);
  }
  state.counters["GB/s"] = benchmark::Counter(3.0 * 774 * 6144 * 4 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_LayerNorm(benchmark::State& state) {
  OwnedTensor x = filled(DType::F32, {729, 1152}, 1.0f), w = filled(DType::F16, {1152}, 1.0f), b = filled(DType::F16, {1152}, 1.0f);
  OwnedTensor y = OwnedTensor::empty(DType::F32, {729, 1152});
  for (auto _ : state) {
    ops::layernorm(kF32, x.tensor, w.tensor, b.tensor, 1e-6f, y.tensor);
    benchmark::DoNotOptimize(y.tensor.data);
  }
  state.counters["GB/s"] = benchmark::Counter(2.0 * 729 * 1152 * 4 * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// ---- Ladders: each step of a kernel's design at one real shape, every rung this CPU runs ----------

// The GEMM ladder (kernels/cpu/gemm.h), every rung this CPU runs, by name, at SigLIP's q/k/v/o
// projection: 729 × 1152 → 1152, F16 weights. Registered in main(); "ref" is kernels/ref (one thread).
void BM_GemmLadder(benchmark::State& state, const cpu::GemmRung* rung) {
  const int64_t T = 729, K = 1152, N = 1152;
  OwnedTensor x = filled(DType::F32, {T, K}, 1.0f), w = filled(DType::F16, {N, K}, 0.02f), y = OwnedTensor::empty(DType::F32, {T, N});
  for (auto _ : state) {
    if (rung)
      rung->run(x.tensor.ptr<float>(), T, K, w.tensor.data, DType::F16, nullptr, y.tensor.ptr<float>(), N);
    else
      ref::matmul(x.tensor, w.tensor, nullptr, y.tensor);
    benchmark::DoNotOptimize(y.tensor.data);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * T * K * N * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The attention ladder (kernels/cpu/attention.h), every rung this CPU runs, by name, at SigLIP's shape:
// 729 queries and keys, 16 heads of 72. Registered in main(); "ref" is kernels/ref (one thread).
void BM_AttentionLadder(benchmark::State& state, const cpu::AttentionRung* rung) {
  const int64_t T = 729, H = 16, Dh = 72;
  OwnedTensor q = filled(DType::F32, {T, H, Dh}, 1.0f), k = filled(DType::F32, {T, H, Dh}, 1.0f);
  OwnedTensor v = filled(DType::F32, {T, H, Dh}, 1.0f), o = OwnedTensor::empty(DType::F32, {T, H, Dh});
  const float scale = 1.0f / std::sqrt(72.0f);
  for (auto _ : state) {
    if (rung)
      rung->run(q.tensor, k.tensor, v.tensor, o.tensor, scale, ops::kNonCausal);
    else
      ref::attention(q.tensor, k.tensor, v.tensor, o.tensor, scale, ops::kNonCausal);
    benchmark::DoNotOptimize(o.tensor.data);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * T * T * H * Dh * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Real shapes: SigLIP (T = 729 patches), OpenELM prefill (774 positions, layer 19), decode (T = 1).
#define MODEL_MATMUL_SHAPES(B)                                                          \
  B->Args({729, 1152, 1152, 1})->Args({729, 1152, 4304, 1})->Args({729, 4304, 1152, 1}) \
      ->Args({774, 1536, 2304, 1})->Args({774, 1536, 12288, 1})->Args({774, 6144, 1536, 1})
BENCHMARK_CAPTURE(BM_Matmul, f32, &kF32)->Name("matmul/prefill")->Apply([](benchmark::internal::Benchmark* b) { MODEL_MATMUL_SHAPES(b); })
    ->ArgNames({"T", "K", "N", "f16"})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Matmul, bf16, bf16_context())->Name("matmul_bf16/prefill")->Apply([](benchmark::internal::Benchmark* b) { MODEL_MATMUL_SHAPES(b); })
    ->ArgNames({"T", "K", "N", "f16"})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Matmul, f32, &kF32)->Name("matmul/decode")->Args({1, 1536, 2304, 1})->Args({1, 1536, 12288, 1})
    ->Args({1, 6144, 1536, 1})->Args({1, 1536, 32000, 1})->Args({1, 1536, 12288, 2})->Args({1, 1536, 12288, 0})
    ->ArgNames({"T", "K", "N", "dtype"})->Unit(benchmark::kMicrosecond)->UseRealTime();
#ifdef TINYLLAVA_HAVE_EIGEN
BENCHMARK(BM_EigenMatmul)->Name("eigen/prefill")->Apply([](benchmark::internal::Benchmark* b) { MODEL_MATMUL_SHAPES(b); })
    ->ArgNames({"T", "K", "N", "_"})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EigenMatmul)->Name("eigen/decode")->Args({1, 1536, 2304, 0})->Args({1, 1536, 12288, 0})
    ->Args({1, 6144, 1536, 0})->Args({1, 1536, 32000, 0})->ArgNames({"T", "K", "N", "_"})->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
#endif
BENCHMARK_CAPTURE(BM_Attention, f32, &kF32)->Name("attention")->Args({729, 729, 16, 16, 72, 0})->Args({774, 774, 24, 6, 64, 1})
    ->Args({1, 775, 24, 6, 64, 1})->ArgNames({"T", "S", "H", "Hkv", "Dh", "causal"})->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Attention, bf16, bf16_context())->Name("attention_bf16")->Args({729, 729, 16, 16, 72, 0})->Args({774, 774, 24, 6, 64, 1})
    ->ArgNames({"T", "S", "H", "Hkv", "Dh", "causal"})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_GeluTanh)->Name("gelu_tanh/729x4304")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_SiluMul)->Name("silu_mul/774x6144")->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_PatchEmbed)->Name("patch_embed/384")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LayerNorm)->Name("layernorm/729x1152")->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  static const std::vector<cpu::GemmRung> ladder = cpu::gemm_ladder();
  auto add = [](const std::string& name, const cpu::GemmRung* rung) {
    benchmark::RegisterBenchmark(("ladder/gemm_729x1152x1152/" + name).c_str(), BM_GemmLadder, rung)
        ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);
  };
  add("ref", nullptr);
  for (const cpu::GemmRung& rung : ladder) add(rung.name, &rung);
  static const std::vector<cpu::AttentionRung> attention = cpu::attention_ladder();
  auto add_attention = [](const std::string& name, const cpu::AttentionRung* rung) {
    benchmark::RegisterBenchmark(("ladder/attention_siglip/" + name).c_str(), BM_AttentionLadder, rung)
        ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(0.5);
  };
  add_attention("ref", nullptr);
  for (const cpu::AttentionRung& rung : attention) add_attention(rung.name, &rung);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
