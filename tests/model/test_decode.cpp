// tests/model/test_decode.cpp — the KV cache and the generation loop: decoding token by token through
// the cache gives the logits a full recompute gives; a prefill in one call equals prefills in pieces;
// the sampler is greedy with lowest-id ties and reproducible per seed; bad requests are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "model/openelm.h"
#include "model/sampler.h"
#include "model/generate.h"
#include "tensor/error.h"
#include "test_util.h"
#include "weights/loader.h"

using namespace tl;
using tl::test::max_rel_error;

namespace {

const std::string kModels = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/models/";
const ops::Context kCpu;  // F32 CPU kernels

}  // namespace

TEST(Decode, CacheStepsEqualFullRecomputeAndChunkedPrefill) {
  for (const char* name : {"tiny", "odd"}) {
    LoadedModel m = load_model(kModels + name);
    const TextConfig& c = m.config.text;
    OpenElm lm(m.weights.text, c);
    const int64_t T = 23, D = c.model_dim, V = c.vocab_size;
    std::vector<int> ids(T);
    std::mt19937 rng(5);
    for (int& id : ids) id = static_cast<int>(rng() % V);
    OwnedTensor x = OwnedTensor::empty(DType::F32, {T, D});
    lm.embed(kCpu, ids.data(), T, x.tensor);

    // All positions in one call.
    KvCache full(c, T);
    OwnedTensor all = OwnedTensor::empty(DType::F32, {T, V});
    lm.forward(kCpu, x.tensor, full, all.tensor, /*all_positions=*/true);

    // One token at a time through the cache.
    KvCache step(c, T);
    std::vector<float> logits(V);
    Tensor lv = Tensor::view(logits.data(), DType::F32, {V});
    for (int64_t t = 0; t < T; ++t) {
      Tensor xt = x.tensor.rows(t, t + 1);
      lm.forward(kCpu, xt, step, lv);
      EXPECT_LE(max_rel_error(logits.data(), all.tensor.ptr<float>() + t * V, static_cast<size_t>(V)), 1e-5)
          << name << " position " << t;
    }

    // A prefill in two chunks (positions 0..9, then 10..22) ends with the same last logits.
    KvCache chunked(c, T);
    OwnedTensor part = OwnedTensor::empty(DType::F32, {10, V});
    lm.forward(kCpu, x.tensor.rows(0, 10), chunked, part.tensor, true);
    lm.forward(kCpu, x.tensor.rows(10, T), chunked, lv);
    EXPECT_LE(max_rel_error(logits.data(), all.tensor.ptr<float>() + (T - 1) * V, static_cast<size_t>(V)), 1e-5)
        << name;
    EXPECT_EQ(chunked.length, T);
  }
}

TEST(Sampler, GreedyTiesGoToTheLowestId) {
  std::vector<float> l = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f};
  EXPECT_EQ(argmax(l.data(), 5), 1);
  Sampler greedy(SamplingParams{});
  EXPECT_EQ(greedy.sample(l.data(), 5), 1);
}

TEST(Sampler, SeededSamplingIsReproducibleAndRespectsTopKTopP) {
  std::vector<float> l(100);
  for (int i = 0; i < 100; ++i) l[i] = static_cast<float>(i % 7) * 0.3f;
  SamplingParams p;
  p.temperature = 0.8f;
  p.seed = 42;
  Sampler a(p), b(p);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(a.sample(l.data(), 100), b.sample(l.data(), 100));
  p.top_k = 3;
  Sampler k(p);
  for (int i = 0; i < 200; ++i) {
    int id = k.sample(l.data(), 100);
    EXPECT_EQ(id % 7, 6) << "top-k 3 keeps the three largest logits (ids 6, 13, 20)";
    EXPECT_LE(id, 20);
  }
  SamplingParams q;
  q.temperature = 1.0f;
  q.top_p = 1e-6f;  // only the most likely token survives
  Sampler n(q);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(n.sample(l.data(), 100), 6);
}

TEST(Generation, BadRequestsAreRefusedClearly) {
  Engine engine(kModels + "tiny");
  Trace trace;
  Request r;
  r.prompt = "hello";
  r.generate.max_new_tokens = 4000;  // context is 2048
  try {
    run(engine, r, trace);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceed the 2048-token context"), std::string::npos) << e.what();
  }
  r.generate.max_new_tokens = 4;
  r.raw = true;
  r.prompt = "<image> and <image>";
  EXPECT_THROW(run(engine, r, trace), Error);  // markers without an image
  OwnedTensor px = OwnedTensor::empty(DType::F32, {3, 64, 64});
  r.pixels = &px.tensor;
  try {
    run(engine, r, trace);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("2 <image> marker(s) but 1 image(s)"), std::string::npos) << e.what();
  }
  r.prompt = "no marker";
  EXPECT_THROW(run(engine, r, trace), Error);
  OwnedTensor wrong = OwnedTensor::empty(DType::F32, {3, 32, 32});
  r.raw = false;
  r.pixels = &wrong.tensor;
  EXPECT_THROW(run(engine, r, trace), Error);
}

TEST(Generation, StopsAtTheLimitOrWhenTheCallerSays) {
  Engine engine(kModels + "tiny");
  Trace trace;
  Request r;
  r.prompt = "hi";
  r.generate.max_new_tokens = 3;
  run(engine, r, trace);
  EXPECT_EQ(trace.tokens.size(), 3u);
  r.generate.max_new_tokens = 0;
  run(engine, r, trace);
  EXPECT_TRUE(trace.tokens.empty());
  EXPECT_EQ(trace.logits.size(), 600u);  // the prompt still runs
  int seen = 0;
  r.generate.max_new_tokens = 10;
  run(engine, r, trace, [&](int) { return ++seen < 2; });  // the callback stops it
  EXPECT_EQ(trace.tokens.size(), 2u);
}
