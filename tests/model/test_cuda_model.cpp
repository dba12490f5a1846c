// tests/model/test_cuda_model.cpp — the whole pipeline on the GPU (an Engine with Device::CUDA) against the
// exact F32 CPU path on every committed fixture, image and text prompts: vision features, connector
// rows, the logits at 16 positions (the CPU's greedy answer fed to both, model/compare.h) and 16 greedy
// tokens. Skips without a visible CUDA device.
//
// Bounds, by the fixture's weight dtype (tensor cores round activations to it; F32 weights run F32):
//   F32:  every stage and position within 5e-5 × max |CPU|, all greedy tokens equal;
//   F16:  1e-2 × max |CPU|;  BF16: 3e-2 × max |CPU|  (the CPU bf16 path's bound, tests/model/test_precision.cpp);
//   and the GPU's own greedy tokens the CPU's up to the first position where the CPU's top-2 margin is
//   within twice the logit error there (before it the argmax cannot differ).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "kernels/ops.h"
#include "model/compare.h"
#include "model/generate.h"
#include "tensor/buffer.h"
#include "test_util.h"
#include "tokenizer/chat.h"
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
      if (wdt == DType::F32) {
        EXPECT_EQ(got.tokens, want.tokens) << name << " " << what;
      }
      const std::string text = chat_prompt(kSystemPrompt, {ChatTurn{req.prompt, with_image, {}}});
      const CompareResult c = compare_models(cpu, gpu, text, req.pixels, 16);
      std::printf("[ cuda     ] %-5s %-5s %s weights: logit error %.2e of max |logit| (worst of %lld positions, bound "
                  "%.0e); greedy tokens agree for %lld (assured %lld)\n", name, what, dtype_name(wdt), c.logit_error_max,
                  static_cast<long long>(c.positions), bound, static_cast<long long>(c.greedy_same),
                  static_cast<long long>(c.greedy_assured));
      for (int64_t i = 0; i < c.positions; ++i)
        EXPECT_LE(c.at[i].logit_error, bound) << name << " " << what << " at position " << i;
      if (c.greedy_first_diff >= 0) {
        EXPECT_GE(c.greedy_first_diff, c.greedy_assured) << name << " " << what;
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
