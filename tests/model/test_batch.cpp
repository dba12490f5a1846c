// tests/model/test_batch.cpp — batched decoding (Session::decode_batch, OpenElm segments): several
// sessions at different lengths, with and without an image, decoded together give each session the
// logits and greedy tokens it gets alone: bit for bit up to kGemvMaxRows sequences on either path
// (the decode GEMV sums each output in the same order for any row count), and past that on the bf16
// path (its GEMM rounds operands to bf16) within that path's stated bound.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "model/session.h"
#include "kernels/cpu/isa.h"
#include "tensor/error.h"
#include "test_util.h"
#include "weights/npy.h"

using namespace tl;
using tl::test::max_rel_error;

namespace {

const std::string kModels = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/models/";

EngineOptions at(ops::Precision p) {
  EngineOptions o;
  o.kernels.precision = p;
  return o;
}

// B sessions prefilled with different prompts (every third with the image), so their lengths differ.
std::vector<std::unique_ptr<Session>> prefilled(Engine& engine, ImagePtr image, int B) {
  std::vector<std::unique_ptr<Session>> v;
  for (int b = 0; b < B; ++b) {
    auto s = std::make_unique<Session>(engine);
    std::string question = "Question number " + std::to_string(b) + std::string(static_cast<size_t>(b), '?');
    const bool with_image = b % 3 == 0;
    s->prefill(make_prompt(engine, chat_prompt(question, with_image), with_image ? std::vector<ImagePtr>{image}
                                                                                   : std::vector<ImagePtr>{}));
    v.push_back(std::move(s));
  }
  return v;
}

// Decodes `steps` greedy tokens for B sessions alone and, from the same prompts, batched; returns the
// largest relative logit difference seen and whether every token agreed.
double batched_vs_alone(Engine& engine, ImagePtr image, int B, int steps, bool* tokens_agree) {
  auto alone = prefilled(engine, image, B), batched = prefilled(engine, image, B);
  const int V = static_cast<int>(engine.config().text.vocab_size);
  double worst = 0;
  *tokens_agree = true;
  for (int step = 0; step < steps; ++step) {
    std::vector<Session*> group;
    std::vector<int> ids;
    for (int b = 0; b < B; ++b) {
      const int want = argmax(alone[b]->logits(), V), got = argmax(batched[b]->logits(), V);
      worst = std::max(worst, max_rel_error(batched[b]->logits(), alone[b]->logits(), static_cast<size_t>(V)));
      *tokens_agree &= want == got;
      alone[b]->decode_step(want);
      group.push_back(batched[b].get());
      ids.push_back(want);  // both follow the same tokens, so the logits stay comparable
    }
    Session::decode_batch(group, ids);
  }
  for (int b = 0; b < B; ++b) EXPECT_EQ(alone[b]->length(), batched[b]->length());
  return worst;
}

}  // namespace

TEST(BatchedDecode, EachSessionGetsExactlyWhatItGetsAlone) {
  for (ops::Precision p : {ops::Precision::F32, ops::Precision::BF16})  // BF16 runs F32 where the CPU lacks it
    for (const char* name : {"tiny", "odd"}) {
      Engine engine(kModels + name, at(p));
      OwnedTensor pixels = read_npy_f32(kModels + name + "/expected/pixel_values.npy");
      ImagePtr image = engine.encode_image(pixels.tensor);
      for (int B : {2, 3, 5, static_cast<int>(cpu::kGemvMaxRows)}) {
        bool agree = false;
        const double err = batched_vs_alone(engine, image, B, 6, &agree);
        EXPECT_EQ(err, 0.0) << name << " " << ops::precision_name(engine.kernels().precision()) << " B=" << B;
        EXPECT_TRUE(agree) << name << " B=" << B;
      }
    }
}

TEST(BatchedDecode, Bf16PathPastTheGemvRowsStaysWithinItsBound) {
  if (!ops::bf16_supported()) GTEST_SKIP() << "no AVX512_BF16 on this CPU: --precision bf16 runs F32";
  Engine engine(kModels + "tiny", at(ops::Precision::BF16));
  ASSERT_EQ(engine.kv_dtype(), DType::F16);
  OwnedTensor pixels = read_npy_f32(kModels + "tiny/expected/pixel_values.npy");
  ImagePtr image = engine.encode_image(pixels.tensor);
  for (int B : {static_cast<int>(cpu::kGemvMaxRows) + 1, 12}) {
    bool agree = false;
    const double err = batched_vs_alone(engine, image, B, 6, &agree);
    std::printf("[ bf16     ] B=%d: largest logit difference from decoding alone %.2e of max |logit|\n", B, err);
    EXPECT_LE(err, 3e-2) << "B=" << B;  // the bf16 path's bound against F32 (test_precision.cpp)
  }
}

TEST(BatchedDecode, ASessionMayNotAppearTwice) {
  Engine engine(kModels + "tiny");
  Session s(engine);
  s.prefill(make_prompt(engine, chat_prompt("Hi", false), {}));
  EXPECT_THROW(Session::decode_batch({&s, &s}, {1, 2}), Error);
}
