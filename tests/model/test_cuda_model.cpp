// tests/model/test_cuda_model.cpp — the whole pipeline on the GPU (an Engine with Device::CUDA) against the
// exact F32 CPU path on every committed fixture, image and text prompts: vision features, connector
// rows, last-position logits and 16 greedy tokens. Skips without a visible CUDA device.
//
// Bounds, by the fixture's weight dtype (tensor cores round activations to it; F32 weights run F32):
//   F32:  every stage within 5e-5 × max |CPU|, all greedy tokens equal;
//   F16:  1e-2 × max |CPU|;  BF16: 3e-2 × max |CPU|  (the CPU bf16 path's bound, tests/model/test_precision.cpp);
//   and the first greedy token equal whenever the CPU's top-2 margin exceeds twice the measured logit error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "kernels/ops.h"
#include "model/generate.h"
#include "tensor/buffer.h"
#include "test_util.h"
#include "weights/npy.h"

using namespace tl;
using tl::test::max_rel_error;

namespace {

const std::string kModels = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/models/";

double bound_for(DType weights) {
  switch (weights) {
    case DType::F32: return 5e-5;
    case DType::F16: return 1e-2;
    default: return 3e-2;
  }
}

EngineOptions on_gpu(bool graphs = true) {
  EngineOptions o;
  o.device = Device::CUDA;
  o.cuda_graphs = graphs;
  return o;
}

}  // namespace

TEST(CudaModel, MatchesTheCpuPathOnEveryFixture) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  for (const char* name : {"tiny", "odd", "plain"}) {
    Engine cpu(kModels + name), gpu(kModels + name, on_gpu());  // the CPU side: exact F32
    const DType wdt = cpu.model().weights.text.layers.at(0).qkv.dtype;
    const double bound = bound_for(wdt);
    OwnedTensor pixels = read_npy_f32(kModels + name + "/expected/pixel_values.npy");
    for (bool with_image : {true, false}) {
      Request req;
      req.prompt = with_image ? "What are these?" : "Describe a sunny day in two words.";
      req.pixels = with_image ? &pixels.tensor : nullptr;
      req.generate.max_new_tokens = 16;
      Trace want, got;
      run(cpu, req, want);
      run(gpu, req, got);
      const char* what = with_image ? "image" : "text";
      if (with_image) {
        ASSERT_EQ(got.features.tensor.shape_vec(), want.features.tensor.shape_vec());
        EXPECT_LE(max_rel_error(got.features.tensor.ptr<float>(), want.features.tensor.ptr<float>(),
                            static_cast<size_t>(want.features.tensor.numel())), bound) << name << " features";
        EXPECT_LE(max_rel_error(got.image_rows.tensor.ptr<float>(), want.image_rows.tensor.ptr<float>(),
                            static_cast<size_t>(want.image_rows.tensor.numel())), bound) << name << " connector";
      }
      EXPECT_EQ(got.input_ids, want.input_ids);
      ASSERT_EQ(got.logits.size(), want.logits.size());
      const double err = max_rel_error(got.logits.data(), want.logits.data(), want.logits.size());
      double max_ref = 0;
      for (float v : want.logits) max_ref = std::max(max_ref, std::fabs(static_cast<double>(v)));
      size_t agree = 0;
      while (agree < std::min(got.tokens.size(), want.tokens.size()) && got.tokens[agree] == want.tokens[agree]) ++agree;
      std::vector<float> sorted(want.logits);
      std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
      const double margin = sorted[0] - sorted[1];
      std::printf("[ cuda     ] %-5s %-5s %s weights: logit error %.2e of max |logit| (bound %.0e); greedy tokens agree "
                  "for %zu of %zu (top-2 margin %.3f)\n", name, what, dtype_name(wdt), err, bound, agree,
                  want.tokens.size(), margin);
      EXPECT_LE(err, bound) << name << " " << what;
      if (wdt == DType::F32) {
        EXPECT_EQ(got.tokens, want.tokens) << name << " " << what;
      }
      if (margin > 2 * err * max_ref) {
        EXPECT_GE(agree, 1u) << name << " " << what;
      }
    }
  }
}

TEST(CudaModel, GraphsPlainLaunchesAndSamplingAgree) {
  // Greedy decoding replays each step as a CUDA graph with the argmax on the device; without graphs the
  // kernels launch one by one; temperature sampling copies the logits back to the CPU sampler (with
  // top_k = 1 it must choose the greedy tokens). All three must produce the same tokens.
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  for (const char* name : {"plain", "odd"}) {
    Engine gpu(kModels + name, on_gpu()), launches(kModels + name, on_gpu(false));
    Request req;
    req.prompt = "Describe a sunny day in two words.";
    req.generate.max_new_tokens = 12;
    req.generate.ignore_eos = true;
    Trace graphs, plain, sampled;
    run(gpu, req, graphs);
    run(launches, req, plain);
    req.generate.sampling.temperature = 0.7f;
    req.generate.sampling.top_k = 1;
    run(gpu, req, sampled);
    EXPECT_EQ(graphs.tokens.size(), 12u) << name;
    EXPECT_EQ(graphs.tokens, plain.tokens) << name;
    EXPECT_EQ(graphs.tokens, sampled.tokens) << name;
  }
}

TEST(CudaModel, GraphDecodeCrossesIntoSplitKAttention) {
  // Past 256 cached positions decode attention switches from the flash kernel to split-K: the step
  // graph's topology changes once (one more instantiation), every other step updates in place.
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  Engine gpu(kModels + "plain", on_gpu()), launches(kModels + "plain", on_gpu(false));
  Request req;
  req.prompt = "Describe a sunny day in two words.";
  req.generate.max_new_tokens = 280;
  req.generate.ignore_eos = true;
  Trace graphs, plain;
  run(gpu, req, graphs);
  ASSERT_GT(graphs.prompt_positions + static_cast<int64_t>(graphs.tokens.size()), 300);
  run(launches, req, plain);
  EXPECT_EQ(graphs.tokens, plain.tokens);
  EXPECT_GE(graphs.graph_instantiations, 1);
  EXPECT_LE(graphs.graph_instantiations, 2) << "decode graphs re-instantiated instead of updated";
}
