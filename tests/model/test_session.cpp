// tests/model/test_session.cpp — sessions and the conversation template: a second question about one
// image encodes it once and prefills only its own turn, with the logits of a fresh full prefill;
// undo, fork and clear; image rows given directly equal encoding the pixels; a conversation over the
// context is refused; and the multi-turn prompts equal the original template's, string and ids
// (tests/fixtures/chat/multiturn.json, made by tools/make_chat_fixtures.py from the original code).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/generate.h"
#include "model/session.h"
#include "tensor/error.h"
#include "test_util.h"
#include "weights/json.h"
#include "weights/npy.h"

using namespace tl;
using tl::test::max_rel_error;

namespace {

const std::string kModels = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/models/";

GenerateParams greedy(int n) {
  GenerateParams p;
  p.max_new_tokens = n;
  return p;
}

std::vector<float> copy_logits(Session& s, int V) { return std::vector<float>(s.logits(), s.logits() + V); }

}  // namespace

TEST(Session, SecondQuestionEncodesOnceAndPrefillsOnlyItsTurn) {
  Engine engine(kModels + "tiny");
  OwnedTensor pixels = read_npy_f32(kModels + "tiny/expected/pixel_values.npy");
  ImagePtr image = engine.encode_image(pixels.tensor);
  Session s(engine);
  s.ask("What are these?", image, greedy(6));
  const int64_t first = s.prefilled_positions();
  EXPECT_EQ(first, s.positions(make_prompt(engine, chat_prompt("What are these?", true), {image})));
  EXPECT_EQ(engine.encode_image(pixels.tensor), image);  // the same pixels come from the cache
  EXPECT_EQ(engine.images_encoded(), 1);

  const Generation answer = s.ask("And the colours?", nullptr, greedy(6));
  const int64_t second = s.prefilled_positions() - first;
  // Only the second turn's text (and the first answer's last token, which the template re-tokenizes
  // with what follows it) is computed; the image and the first turn stay cached.
  std::vector<ChatTurn> asked = s.turns();
  asked.back().answer.reset();
  const Prompt whole = make_prompt(engine, chat_prompt(kSystemPrompt, asked), {image});
  const int64_t turn_two = s.positions(whole) - first - static_cast<int64_t>(answer.tokens.size());
  EXPECT_GE(second, turn_two) << "the second turn's own text is computed";
  // Nothing of the first prompt (image included) is recomputed. How much of the answer is reused
  // depends on whether the generated ids are how the tokenizer itself would write the answer's text
  // (with the Llama-2 tokenizer only the last token merges with "<|endoftext|>"; a random tiny model
  // emits ids no tokenizer would choose).
  EXPECT_LE(second, s.positions(whole) - first) << "prefilled " << second << " of " << s.positions(whole);
  EXPECT_EQ(engine.images_encoded(), 1);

  // A fresh session given the whole conversation up to the second question answers it the same way.
  Session scratch(engine);
  scratch.prefill(whole);
  EXPECT_EQ(scratch.prefilled_positions(), scratch.positions(whole));
  EXPECT_EQ(scratch.generate(greedy(6)).tokens, answer.tokens);
}

TEST(Session, CachedPrefixGivesTheLogitsOfAFullPrefill) {
  Engine engine(kModels + "odd");
  const int V = engine.config().text.vocab_size;
  OwnedTensor pixels = read_npy_f32(kModels + "odd/expected/pixel_values.npy");
  ImagePtr image = engine.encode_image(pixels.tensor);
  std::vector<ChatTurn> turns = {{"What are these?", true, std::string("Two cats.")}, {"Where?", false, std::nullopt}};
  const Prompt one = make_prompt(engine, chat_prompt(kSystemPrompt, {{"What are these?", true, std::nullopt}}), {image});
  const Prompt two = make_prompt(engine, chat_prompt(kSystemPrompt, turns), {image});
  Session cached(engine), full(engine);
  cached.prefill(one);
  cached.prefill(two);
  full.prefill(two);
  EXPECT_LT(cached.prefilled_positions() - cached.positions(one), full.prefilled_positions());
  const std::vector<float> a = copy_logits(cached, V), b = copy_logits(full, V);
  EXPECT_LE(max_rel_error(a.data(), b.data(), a.size()), 1e-5);
  // Prefilling what is already cached recomputes only the last position.
  const int64_t before = full.prefilled_positions();
  full.prefill(two);
  EXPECT_EQ(full.prefilled_positions() - before, 1);
  const std::vector<float> c = copy_logits(full, V);
  EXPECT_LE(max_rel_error(c.data(), b.data(), c.size()), 1e-5);
}

namespace {

void undo_fork_and_clear(const EngineOptions& options) {
  Engine engine(kModels + "tiny", options);
  Session s(engine);
  EXPECT_EQ(s.kv_cache_dtype(), engine.kv_dtype());
  const Generation a1 = s.ask("Hello there", nullptr, greedy(5));
  Session f = s.fork();
  const Generation a2 = s.ask("Tell me more", nullptr, greedy(5));
  EXPECT_EQ(s.turns().size(), 2u);
  // The fork has its own cache: the same question there gives the same answer.
  const Generation f2 = f.ask("Tell me more", nullptr, greedy(5));
  EXPECT_EQ(f2.tokens, a2.tokens);
  // Undo, ask again: the same answer; undo twice more: nothing left.
  EXPECT_TRUE(s.undo());
  EXPECT_EQ(s.turns().size(), 1u);
  EXPECT_EQ(s.ask("Tell me more", nullptr, greedy(5)).tokens, a2.tokens);
  EXPECT_TRUE(s.undo());
  EXPECT_TRUE(s.undo());
  EXPECT_FALSE(s.undo());
  s.clear();
  EXPECT_EQ(s.length(), 0);
  EXPECT_EQ(s.ask("Hello there", nullptr, greedy(5)).tokens, a1.tokens);
}

}  // namespace

// At both precisions: the bf16 path's KV cache is F16 (forked, grown and truncated like the F32 one).
TEST(Session, UndoForkAndClear) {
  for (ops::Precision p : {ops::Precision::F32, ops::Precision::BF16}) {
    SCOPED_TRACE(ops::precision_name(p));
    EngineOptions o;
    o.kernels.precision = p;
    undo_fork_and_clear(o);
  }
}

TEST(Session, ImageRowsGivenDirectlyEqualEncodingThePixels) {
  Engine engine(kModels + "tiny");
  OwnedTensor pixels = read_npy_f32(kModels + "tiny/expected/pixel_values.npy");
  ImagePtr encoded = engine.encode_image(pixels.tensor);
  ImagePtr given = engine.image_from_rows(encoded->rows.tensor, "rows");
  Request a, b;
  a.prompt = b.prompt = "What are these?";
  a.pixels = &pixels.tensor;
  b.image = given;
  a.generate.max_new_tokens = b.generate.max_new_tokens = 16;
  Trace ta, tb;
  run(engine, a, ta);
  run(engine, b, tb);
  EXPECT_EQ(ta.tokens, tb.tokens);
  EXPECT_EQ(ta.logits, tb.logits);
  OwnedTensor wrong = OwnedTensor::empty(DType::F32, {3, 5});
  EXPECT_THROW(engine.image_from_rows(wrong.tensor, "wrong.npy"), Error);
}

TEST(Session, AConversationOverTheContextIsRefusedAndKept) {
  EngineOptions o;
  o.context = 200;
  Engine engine(kModels + "tiny", o);
  Session s(engine);
  s.ask("Hi", nullptr, greedy(2));
  const size_t turns = s.turns().size();
  std::string long_question;
  for (int i = 0; i < 20; ++i) long_question += "more words ";
  try {
    s.ask(long_question, nullptr, greedy(2));
    FAIL() << "a question past the context was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_NE(std::string(e.what()).find("exceed the 200-token context"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.turns().size(), turns);
  // Generation that reaches the end of the context stops there, saying so.
  const Generation g = s.ask("Go on", nullptr, greedy(100));
  EXPECT_EQ(g.finish, FinishReason::Context);
  EXPECT_EQ(s.length(), 200);
  EXPECT_THROW(Engine(kModels + "tiny", [] { EngineOptions x; x.context = 1 << 20; return x; }()), Error);
}

TEST(ChatTemplate, MultiTurnPromptsEqualTheOriginal) {
  if (!tl::test::shared_dir_present()) GTEST_SKIP() << "../shared is absent (the Llama-2 tokenizer is read from it)";
  const Tokenizer tok = Tokenizer::load(TINYLLAVA_SHARED_DIR "/tokenizer/llama2-tokenizer.model");
  const std::string path = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/chat/multiturn.json";
  const json::Value cases = json::parse(tl::test::slurp(path), path);
  int checked = 0;
  for (const json::Value& c : cases.items()) {
    const std::string name = c.find("name")->as_string();
    std::vector<ChatTurn> turns;
    for (const json::Value& t : c.find("turns")->items()) {
      const json::Value* a = t.find("assistant");
      turns.push_back({t.find("user")->as_string(), t.find("image")->as_bool(),
                       a->is_null() ? std::nullopt : std::optional<std::string>(a->as_string())});
    }
    const std::string prompt = chat_prompt(c.find("system")->as_string(), turns);
    EXPECT_EQ(prompt, c.find("prompt")->as_string()) << name;
    // The original's slow tokenizer (legacy=false) turns a literal "</s>" typed in the text into the
    // EOS id; the engine encodes user text as plain text (tokenizer/chat.h), so that case differs in ids.
    if (name == "answer_literal_eos") continue;
    std::vector<int> want;
    for (const json::Value& id : c.find("ids")->items()) want.push_back(static_cast<int>(id.as_int()));
    EXPECT_EQ(prompt_ids(tok, prompt), want) << name;
    ++checked;
  }
  EXPECT_GE(checked, 10);
}
