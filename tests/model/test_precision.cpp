// tests/model/test_precision.cpp — the reduced-precision paths' error, measured against the exact F32
// path on every committed fixture (image and text prompts): the bf16 path (skipped where the CPU has no
// AVX512_BF16) and quantized checkpoints. The README states these numbers.
//
// Each comparison is model/compare.h's: A (exact) answers greedily for 16 tokens, both are fed A's
// tokens, and at every one of the 16 positions
//   max |logits_B - logits_A| <= bound · max |logits_A|   (bf16: 3e-2; q8 8e-2, q4 6e-1 of the float model);
// and B answering on its own must give A's tokens up to the first position where A's top-2 margin is
// within twice the error there (before it B's argmax cannot differ; a free-running B that parts from
// its teacher-forced self earlier is a bug in its decode loop, not rounding).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "kernels/ops.h"
#include "model/compare.h"
#include "model/generate.h"
#include "test_util.h"
#include "tensor/error.h"
#include "tensor/quant.h"
#include "tokenizer/chat.h"
#include "weights/layout.h"
#include "weights/loader.h"
#include "weights/npy.h"
#include "weights/quantize.h"
#include "weights/safetensors.h"

using namespace tl;

namespace {

const std::string kModels = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/models/";
constexpr int kPositions = 16;

Trace run_at(Engine& engine, const Request& req) {
  Trace t;
  run(engine, req, t);
  return t;
}

EngineOptions at(ops::Precision p) {
  EngineOptions o;
  o.kernels.precision = p;
  return o;
}

// B against A on one question (with `pixels`, the image question; without, a text one), as the header
// says: every position's logit error within `bound`, B's own greedy tokens A's where they must be.
void expect_within(Engine& a, Engine& b, const Tensor* pixels, double bound, const std::string& what) {
  const std::string question = pixels ? "What are these?" : "Describe a sunny day in two words.";
  const std::string text = chat_prompt(kSystemPrompt, {ChatTurn{question, pixels != nullptr, {}}});
  const CompareResult r = compare_models(a, b, text, pixels, kPositions);
  std::printf("[ %-8s ] logit error %.2e of max |logit| (worst of %lld positions), KL max %.2e; greedy tokens "
              "agree for %lld (assured %lld, first difference %lld)\n", what.c_str(), r.logit_error_max,
              static_cast<long long>(r.positions), r.kl_max, static_cast<long long>(r.greedy_same),
              static_cast<long long>(r.greedy_assured), static_cast<long long>(r.greedy_first_diff));
  ASSERT_EQ(r.positions, kPositions) << what;
  for (int64_t i = 0; i < r.positions; ++i)
    EXPECT_LE(r.at[i].logit_error, bound) << what << " at position " << i;
  if (r.greedy_first_diff >= 0) {
    EXPECT_GE(r.greedy_first_diff, r.greedy_assured) << what;
  }
}

}  // namespace

TEST(Precision, Bf16PathErrorIsBounded) {
  if (!ops::bf16_supported()) GTEST_SKIP() << "no AVX512_BF16 on this CPU: --precision bf16 runs F32";
  for (const char* name : {"tiny", "odd", "plain"}) {
    Engine exact(kModels + name, at(ops::Precision::F32)), fast(kModels + name, at(ops::Precision::BF16));
    ASSERT_EQ(fast.kernels().precision(), ops::Precision::BF16);
    OwnedTensor pixels = read_npy_f32(kModels + name + "/expected/pixel_values.npy");
    expect_within(exact, fast, &pixels.tensor, 3e-2, std::string("bf16 ") + name + " image");
    expect_within(exact, fast, nullptr, 3e-2, std::string("bf16 ") + name + " text");
  }
}

// Quantized checkpoints (weights/quantize.h) on the exact F32 path and on bf16 (the bf16 GEMMs and int8
// decode activations) against the float checkpoint on the exact path. The committed fixtures are tiny
// random models (D = 128, logits of 1.5-3), so the bounds are loose, not a trained model's numbers.
// Measured 2026-12-01, worst of 16 positions: q8 1.9-5.0e-2, q4 2.2-5.1e-1 (bf16 path: 5.1e-3 to
// 1.1e-2). That the engine computes the quantized model exactly is the next test's job.
TEST(Precision, QuantizedCheckpointErrorIsBounded) {
  tl::test::ScratchDir dir;
  for (const char* name : {"tiny", "odd", "plain"}) {
    Engine exact(kModels + name, at(ops::Precision::F32));
    OwnedTensor pixels = read_npy_f32(kModels + name + "/expected/pixel_values.npy");
    for (DType t : {DType::Q8, DType::Q4}) {
      QuantizeOptions o;
      o.type = t;
      const std::string out = dir / (std::string(name) + dtype_name(t));
      quantize_checkpoint(kModels + name, out, o);
      for (ops::Precision p : {ops::Precision::F32, ops::Precision::BF16}) {
        if (p == ops::Precision::BF16 && !ops::bf16_supported()) continue;
        Engine quantized(out, at(p));
        expect_within(exact, quantized, &pixels.tensor, t == DType::Q8 ? 8e-2 : 6e-1,
                      std::string(dtype_name(t)) + " " + ops::precision_name(p) + " " + name);
      }
    }
  }
}

namespace {

// `src` (a quantized checkpoint) rewritten with every quantized weight as its exact F32 values: the
// float model a quantized one stands for.
void write_dequantized(const std::string& src, const std::string& out) {
  std::filesystem::create_directories(out);
  for (const char* f : {"config.json", "tokenizer.model"}) std::filesystem::copy_file(src + "/" + f, out + "/" + f);
  const LoadedModel m = load_model(src);
  std::map<std::string, std::vector<int64_t>> shapes;  // the float shapes, from the config
  for (const TensorSpec& s : checkpoint_layout(m.config)) shapes[s.name] = s.shape;
  std::vector<SafetensorsWriter::Spec> specs;
  std::vector<Tensor> views;  // per spec: the quantized view, or the entry's bytes as they are
  for (const TensorEntry* e : m.checkpoint->tensors()) {
    if (e->name.size() > 6 && e->name.compare(e->name.size() - 6, 6, "_scale") == 0) continue;
    Tensor v = e->view();
    if (e->dtype == DType::I8 || e->dtype == DType::U8) {
      const std::string scale = e->name + "_scale";
      const TensorEntry* s = m.checkpoint->find(scale);
      v = Tensor::view(const_cast<uint8_t*>(e->data), e->dtype == DType::I8 ? DType::Q8 : DType::Q4, shapes[e->name]);
      v.scales = reinterpret_cast<const uint16_t*>(s->data);
    }
    specs.push_back({e->name, is_quantized(v.dtype) ? DType::F32 : e->dtype, v.shape_vec()});
    views.push_back(v);
  }
  SafetensorsWriter w(out + "/model.safetensors", specs);
  for (const Tensor& v : views) {
    if (!is_quantized(v.dtype)) {
      w.write(v.data, v.nbytes());
      continue;
    }
    std::vector<float> row(static_cast<size_t>(v.shape[1]));
    for (int64_t r = 0; r < v.shape[0]; ++r) {
      weight_slice_to_f32(v, r, 0, v.shape[1], row.data());
      w.write(row.data(), row.size() * 4);
    }
  }
  w.finish();
}

}  // namespace

// The engine runs a quantized checkpoint as exactly the float model of its dequantized weights: every
// quantized tensor bound where it belongs (the tied head included), to F32 summation error.
TEST(Precision, QuantizedCheckpointIsItsDequantizedModel) {
  tl::test::ScratchDir dir;
  for (DType t : {DType::Q8, DType::Q4}) {
    QuantizeOptions o;
    o.type = t;
    const std::string q = dir / dtype_name(t), d = dir / (std::string(dtype_name(t)) + "-dequantized");
    quantize_checkpoint(kModels + "tiny", q, o);
    write_dequantized(q, d);
    Engine eq(q, at(ops::Precision::F32)), ed(d, at(ops::Precision::F32));
    OwnedTensor pixels = read_npy_f32(kModels + "tiny/expected/pixel_values.npy");
    Request req;
    req.prompt = "What are these?";
    req.pixels = &pixels.tensor;
    req.generate.max_new_tokens = 8;
    const Trace a = run_at(eq, req), b = run_at(ed, req);
    double max_ref = 0, max_diff = 0;
    for (size_t i = 0; i < a.logits.size(); ++i) {
      max_ref = std::max(max_ref, std::fabs(static_cast<double>(b.logits[i])));
      max_diff = std::max(max_diff, std::fabs(static_cast<double>(a.logits[i]) - b.logits[i]));
    }
    EXPECT_LE(max_diff, 1e-4 * max_ref) << dtype_name(t);
    EXPECT_EQ(a.tokens, b.tokens) << dtype_name(t);
    // The CUDA kernels read float weights only: a quantized checkpoint says so (with or without a GPU).
    EngineOptions gpu;
    gpu.device = Device::CUDA;
    try {
      Engine e(q, gpu);
      ADD_FAILURE() << "a quantized checkpoint loaded for CUDA";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("-quantized checkpoint; the CUDA kernels read F16, BF16 or F32 weights only"),
                std::string::npos) << e.what();
    }
  }
}

// kl_divergence: 0 for equal rows and for rows that differ by a constant (the same softmax), the
// textbook value for two known distributions.
TEST(Precision, KlDivergenceOfLogitRows) {
  const float a[3] = {1.0f, 2.0f, 3.0f}, shifted[3] = {11.0f, 12.0f, 13.0f}, b[3] = {0.0f, 0.0f, 0.0f};
  EXPECT_EQ(kl_divergence(a, a, 3), 0.0);
  EXPECT_NEAR(kl_divergence(a, shifted, 3), 0.0, 1e-12);
  double za = std::exp(1.0) + std::exp(2.0) + std::exp(3.0), want = 0;
  for (double v : a) want += std::exp(v) / za * (v - std::log(za) - std::log(1.0 / 3));
  EXPECT_NEAR(kl_divergence(a, b, 3), want, 1e-12);
}
