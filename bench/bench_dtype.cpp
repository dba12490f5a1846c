// bench/bench_dtype.cpp — bulk dtype conversion (tensor/dtype.h) at a real row size, against Eigen's
// half/bfloat16 conversions as the baseline in the same run, and each ISA table's F16 widening (the
// engine's weight and KV-cache loads: vcvtph2ps, or the generic table's integer bit moves). Reports
// output bytes per second.
//
//   ./build/bench/bench_dtype --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/isa.h"
#include "tensor/dtype.h"
#ifdef TINYLLAVA_HAVE_EIGEN
#include <Eigen/Core>
#endif

using namespace tl;

namespace {

constexpr size_t kN = 1536 * 1152;  // one OpenELM qkv_proj of layer 0

std::vector<float> random_floats() {
  std::vector<float> v(kN);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  for (float& x : v) x = nd(rng);
  return v;
}

void report(benchmark::State& state, size_t bytes_per_iter) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes_per_iter));
}

void BM_ToF32(benchmark::State& state, DType t) {
  std::vector<float> src = random_floats(), dst(kN);
  std::vector<uint8_t> packed(kN * dtype_size(t));
  convert_from_f32(src.data(), packed.data(), t, kN);
  for (auto _ : state) {
    convert_to_f32(packed.data(), t, dst.data(), kN);
    benchmark::DoNotOptimize(dst.data());
  }
  report(state, kN * 4);
}

void BM_FromF32(benchmark::State& state, DType t) {
  std::vector<float> src = random_floats();
  std::vector<uint8_t> packed(kN * dtype_size(t));
  for (auto _ : state) {
    convert_from_f32(src.data(), packed.data(), t, kN);
    benchmark::DoNotOptimize(packed.data());
  }
  report(state, kN * dtype_size(t));
}

void BM_IsaToF32(benchmark::State& state, const cpu::IsaKernels* isa) {
  std::vector<float> src = random_floats(), dst(kN);
  std::vector<uint8_t> packed(kN * 2);
  convert_from_f32(src.data(), packed.data(), DType::F16, kN);
  for (auto _ : state) {
    isa->to_f32(packed.data(), DType::F16, dst.data(), static_cast<int64_t>(kN));
    benchmark::DoNotOptimize(dst.data());
  }
  report(state, kN * 4);
}

#ifdef TINYLLAVA_HAVE_EIGEN
template <typename H>
void BM_EigenToF32(benchmark::State& state) {
  std::vector<float> src = random_floats(), dst(kN);
  std::vector<H> packed(kN);
  for (size_t i = 0; i < kN; ++i) packed[i] = H(src[i]);
  for (auto _ : state) {
    for (size_t i = 0; i < kN; ++i) dst[i] = static_cast<float>(packed[i]);
    benchmark::DoNotOptimize(dst.data());
  }
  report(state, kN * 4);
}

template <typename H>
void BM_EigenFromF32(benchmark::State& state) {
  std::vector<float> src = random_floats();
  std::vector<H> packed(kN);
  for (auto _ : state) {
    for (size_t i = 0; i < kN; ++i) packed[i] = H(src[i]);
    benchmark::DoNotOptimize(packed.data());
  }
  report(state, kN * sizeof(H));
}
BENCHMARK(BM_EigenToF32<Eigen::half>)->Name("eigen/f16_to_f32");
BENCHMARK(BM_EigenToF32<Eigen::bfloat16>)->Name("eigen/bf16_to_f32");
BENCHMARK(BM_EigenFromF32<Eigen::half>)->Name("eigen/f32_to_f16");
BENCHMARK(BM_EigenFromF32<Eigen::bfloat16>)->Name("eigen/f32_to_bf16");
#endif

}  // namespace

BENCHMARK_CAPTURE(BM_ToF32, f16, DType::F16)->Name("tinyllava/f16_to_f32");
BENCHMARK_CAPTURE(BM_ToF32, bf16, DType::BF16)->Name("tinyllava/bf16_to_f32");
BENCHMARK_CAPTURE(BM_FromF32, f16, DType::F16)->Name("tinyllava/f32_to_f16");
BENCHMARK_CAPTURE(BM_FromF32, bf16, DType::BF16)->Name("tinyllava/f32_to_bf16");

int main(int argc, char** argv) {
  for (const cpu::IsaKernels* isa : cpu::runnable_isa_tables())
    benchmark::RegisterBenchmark((std::string("isa/") + isa->name + "/f16_to_f32").c_str(), BM_IsaToF32, isa);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
