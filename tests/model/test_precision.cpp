// tests/model/test_precision.cpp — the bf16 fast path's error, measured against the exact F32 path on
// every committed fixture (image and text prompts): the relative logit error and how many of the
// 16 greedy tokens agree. Skips where the CPU has no AVX512_BF16. The README states these numbers.
//
// Bound held: max |logits_bf16 - logits_f32| <= 3e-2 · max |logits_f32|, the first greedy token the same
// whenever the F32 top-2 margin exceeds twice the measured logit error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "kernels/ops.h"
#include "model/generate.h"
#include "weights/npy.h"

using namespace tl;

namespace {

const std::string kModels = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/models/";

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

}  // namespace

TEST(Precision, Bf16PathErrorIsBounded) {
  if (!ops::bf16_supported()) GTEST_SKIP() << "no AVX512_BF16 on this CPU: --precision bf16 runs F32";
  for (const char* name : {"tiny", "odd", "plain"}) {
    Engine exact(kModels + name, at(ops::Precision::F32)), fast(kModels + name, at(ops::Precision::BF16));
    ASSERT_EQ(fast.kernels().precision(), ops::Precision::BF16);
    OwnedTensor pixels = read_npy_f32(kModels + name + "/expected/pixel_values.npy");
    for (bool with_image : {true, false}) {
      Request req;
      req.prompt = with_image ? "What are these?" : "Describe a sunny day in two words.";
      req.pixels = with_image ? &pixels.tensor : nullptr;
      req.generate.max_new_tokens = 16;
      Trace f32 = run_at(exact, req), bf16 = run_at(fast, req);
      double max_ref = 0, max_diff = 0;
      for (size_t i = 0; i < f32.logits.size(); ++i) {
        max_ref = std::max(max_ref, std::fabs(static_cast<double>(f32.logits[i])));
        max_diff = std::max(max_diff, std::fabs(static_cast<double>(bf16.logits[i]) - f32.logits[i]));
      }
      size_t agree = 0;
      while (agree < std::min(f32.tokens.size(), bf16.tokens.size()) && f32.tokens[agree] == bf16.tokens[agree]) ++agree;
      std::vector<float> sorted(f32.logits);
      std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
      const double margin = sorted[0] - sorted[1];
      std::printf("[ bf16     ] %-5s %-5s logit error %.2e of max |logit| %.2f; greedy tokens agree for %zu of %zu "
                  "(top-2 margin %.3f)\n", name, with_image ? "image" : "text", max_diff / max_ref, max_ref, agree,
                  f32.tokens.size(), margin);
      EXPECT_LE(max_diff, 3e-2 * max_ref) << name;
      if (margin > 2 * max_diff) {
        EXPECT_GE(agree, 1u) << name;
      }
    }
  }
}
