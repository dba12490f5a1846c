// tests/model/test_beam.cpp — beam search against Hugging Face's own generate(num_beams=N) on the
// committed fixtures (tests/fixtures/beams/{tiny,odd}.json, made by tools/make_beam_fixtures.py with
// transformers 4.39.3's _beam_search around the PyTorch reference): the best sequence's tokens exactly
// and its sequence_score, for 2-4 beams, image and text prompts, and cases that end early by EOS or
// where a finished hypothesis beats the running beams at the end (EOS ids chosen per case: the random
// models never reach the config's). Every case's deciding score margin is >= 1.7e-3, far above the
// F32 path's ~1e-6 logit error.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "model/beam.h"
#include "tensor/error.h"
#include "test_util.h"
#include "weights/json.h"
#include "weights/npy.h"

using namespace tl;

namespace {

const std::string kRoot = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/";

}  // namespace

TEST(Beam, EqualsHuggingFaceGenerateNumBeams) {
  int cases = 0, early = 0;
  for (const char* model : {"tiny", "odd"}) {
    Engine engine(kRoot + "models/" + model);  // F32, the exact path
    OwnedTensor pixels = read_npy_f32(kRoot + "models/" + model + "/expected/pixel_values.npy");
    ImagePtr image = engine.encode_image(pixels.tensor);
    const std::string path = kRoot + "beams/" + model + ".json";
    const json::Value doc = json::parse(tl::test::slurp(path), path);
    for (const json::Value& c : doc.items()) {
      const bool with_image = c.find("image")->as_bool();
      const std::string prompt = c.find("prompt")->as_string();
      Session s(engine);
      s.prefill(make_prompt(engine, chat_prompt(prompt, with_image), with_image ? std::vector<ImagePtr>{image}
                                                                                 : std::vector<ImagePtr>{}));
      BeamParams p;
      p.num_beams = static_cast<int>(c.find("num_beams")->as_int());
      p.max_new_tokens = static_cast<int>(c.find("max_new_tokens")->as_int());
      p.eos_token_id = static_cast<int>(c.find("eos_token_id")->as_int());
      p.length_penalty = static_cast<float>(c.find("length_penalty")->as_number());
      p.early_stopping = c.find("early_stopping")->as_bool();
      const BeamResult r = beam_search(s, p);
      std::vector<int> want;
      for (const json::Value& t : c.find("tokens")->items()) want.push_back(static_cast<int>(t.as_int()));
      const std::string what = std::string(model) + " '" + prompt + "' beams " + std::to_string(p.num_beams) +
                               " eos " + std::to_string(p.eos_token_id);
      EXPECT_EQ(r.tokens, want) << what;
      const double score = c.find("sequence_score")->as_number();
      EXPECT_NEAR(r.score, score, 1e-4 * std::fabs(score)) << what;
      EXPECT_EQ(r.finish == FinishReason::Eos, c.find("finished_by_eos")->as_bool()) << what;
      early += static_cast<int>(want.size()) < p.max_new_tokens;
      EXPECT_EQ(s.length(), s.positions(make_prompt(engine, chat_prompt(prompt, with_image),
                                                    with_image ? std::vector<ImagePtr>{image} : std::vector<ImagePtr>{})))
          << "the session is left holding the prompt";
      ++cases;
    }
  }
  EXPECT_EQ(cases, 12);
  EXPECT_GE(early, 2) << "cases that stop before max_new_tokens";
}

TEST(Beam, RefusesWhatItCannotDo) {
  Engine engine(kRoot + "models/tiny");
  Session s(engine);
  s.prefill(make_prompt(engine, chat_prompt("hi", false), {}));
  BeamParams p;
  p.num_beams = 1;
  EXPECT_THROW(beam_search(s, p), Error);
  p.num_beams = 2;
  p.max_new_tokens = 5000;
  EXPECT_THROW(beam_search(s, p), Error);  // past the context
}
