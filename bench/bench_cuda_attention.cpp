// bench/bench_cuda_attention.cpp — the CUDA attention ladder (kernels/cuda/attention.cu) at the model's
// shapes: SigLIP (729 patches, 16 heads of 72, non-causal), OpenELM prefill (774 positions, 16 query heads
// over 4 KV heads of 64, causal) and decode (1 query over S = 128, 774, 2048 cached keys). Every rung
// runs at every shape (Auto, Naive, Flash, SplitK); Naive is the in-run baseline. cuDNN and PyTorch's
// SDPA are not linked here: tools/ compares against PyTorch SDPA separately.
//
// Timing: cudaEvents on the engine's stream around kBatch back-to-back calls (so small decode kernels are
// not measured as launch gaps), reported with UseManualTime. Rates: TFLOP/s = 4·T·S·H·Dh flops (half of
// that for a causal prefill, T = S) per second; decode reports GB/s of K and V read (2·S·Hkv·Dh·4 bytes;
// the kernels may read them more than once, from L2).
//
//   ./build/bench/bench_cuda_attention --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/cuda_ops.h"
#include "tensor/buffer.h"
#include "tensor/error.h"

namespace tl::cuda {
cudaStream_t stream();  // kernels/cuda/common.cuh (which holds device code, so a .cpp cannot include it)
}  // namespace tl::cuda

using namespace tl;
using cuda::AttentionAlgo;

namespace {

constexpr int kBatch = 10;  // calls between two events

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) fail_internal("%s: %s", what, cudaGetErrorString(err));
}

OwnedTensor device_filled(const std::vector<int64_t>& shape) {
  OwnedTensor h = OwnedTensor::empty(DType::F32, shape);
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int64_t i = 0; i < h.tensor.numel(); ++i) h.tensor.ptr<float>()[i] = nd(rng);
  OwnedTensor d = OwnedTensor::empty(DType::F32, shape, Device::CUDA);
  cuda_copy_to_device(d.tensor.data, h.tensor.data, h.tensor.nbytes());
  check(cudaDeviceSynchronize(), "upload");  // the engine's stream need not wait for cudaMemcpy's stream
  return d;
}

// Args: T, S, H, Hkv, Dh, causal (0/1: query t sees keys j <= t + S - T), algo (0 Auto, 1 Naive, 2 Flash,
// 3 SplitK).
void BM_CudaAttention(benchmark::State& state) {
  if (!cuda_available()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  const int64_t T = state.range(0), S = state.range(1), H = state.range(2), Hkv = state.range(3), Dh = state.range(4);
  const bool causal = state.range(5) != 0;
  const auto algo = static_cast<AttentionAlgo>(state.range(6));
  const int64_t offset = causal ? S - T : ops::kNonCausal;
  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  try {
    OwnedTensor q = device_filled({T, H, Dh}), k = device_filled({S, Hkv, Dh}), v = device_filled({S, Hkv, Dh});
    OwnedTensor out = OwnedTensor::empty(DType::F32, {T, H, Dh}, Device::CUDA);
    auto run = [&] {
      cuda::attention_raw(q.tensor.ptr<float>(), k.tensor.ptr<float>(), v.tensor.ptr<float>(), out.tensor.ptr<float>(),
                          T, S, H, Hkv, Dh, scale, offset, algo);
    };
    run();  // warm-up: shared-memory attributes, workspace growth, caches
    check(cudaDeviceSynchronize(), "warm-up");

    cudaEvent_t start = nullptr, stop = nullptr;
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    double seconds = 0;
    for (auto _ : state) {
      check(cudaEventRecord(start, cuda::stream()), "cudaEventRecord");
      for (int i = 0; i < kBatch; ++i) run();
      check(cudaEventRecord(stop, cuda::stream()), "cudaEventRecord");
      check(cudaEventSynchronize(stop), "cudaEventSynchronize");
      float ms = 0;
      check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
      const double per_call = ms * 1e-3 / kBatch;
      state.SetIterationTime(per_call);
      seconds += per_call;
    }
    check(cudaEventDestroy(start), "cudaEventDestroy");
    check(cudaEventDestroy(stop), "cudaEventDestroy");

    // Rates from the measured (manual) time, computed here so they do not depend on which clock the
    // library divides its rate counters by.
    const double per_iter = seconds / static_cast<double>(state.iterations());
    if (T == 1) {
      state.counters["GB/s"] = 2.0 * S * Hkv * Dh * sizeof(float) / per_iter * 1e-9;
    } else {
      const double flops = 4.0 * T * S * H * Dh * (causal && T == S ? 0.5 : 1.0);
      state.counters["TFLOP/s"] = flops / per_iter * 1e-12;
    }
  } catch (const Error& e) {
    state.SkipWithError(e.what());  // e.g. Naive where S does not fit shared memory
  }
}

const std::vector<int64_t> kAlgos = {0, 1, 2, 3};

}  // namespace

BENCHMARK(BM_CudaAttention)->Name("cuda_attention/siglip")->ArgsProduct({{729}, {729}, {16}, {16}, {72}, {0}, kAlgos})
    ->ArgNames({"T", "S", "H", "Hkv", "Dh", "causal", "algo"})->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaAttention)->Name("cuda_attention/openelm_prefill")
    ->ArgsProduct({{774}, {774}, {16}, {4}, {64}, {1}, kAlgos})
    ->ArgNames({"T", "S", "H", "Hkv", "Dh", "causal", "algo"})->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CudaAttention)->Name("cuda_attention/decode")
    ->ArgsProduct({{1}, {128, 774, 2048}, {16}, {4}, {64}, {1}, kAlgos})
    ->ArgNames({"T", "S", "H", "Hkv", "Dh", "causal", "algo"})->UseManualTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
