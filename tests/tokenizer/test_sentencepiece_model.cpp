// tests/tokenizer/test_sentencepiece_model.cpp — the hand-written protobuf reader: fields of a real
// model; damaged files (empty, truncated at every length, wrong wire types, lengths past the end,
// random bytes, groups, over-long varints) refused with a clear error, never a crash; models we
// cannot reproduce exactly (unigram, a precompiled normalizer) refused by name.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "tensor/error.h"
#include "test_util.h"
#include "tokenizer/sentencepiece_model.h"

using namespace tl;
using tl::test::input_error;

namespace {

const std::string kSmall = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/tokenizer/small_bpe.model";

std::string parse_error(const std::string& bytes) {
  const std::string msg = input_error([&] { parse_sentencepiece_model(bytes, "t.model"); });
  if (!msg.empty()) {
    EXPECT_EQ(msg.rfind("t.model: ", 0), 0u) << msg;
  }
  return msg;
}

// Protobuf encoding helpers for hand-made models.
std::string varint(uint64_t v) {
  std::string s;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    s += static_cast<char>(v ? b | 0x80 : b);
  } while (v);
  return s;
}
std::string field(int num, const std::string& bytes) { return varint((num << 3) | 2) + varint(bytes.size()) + bytes; }
std::string field_varint(int num, uint64_t v) { return varint(num << 3) + varint(v); }
std::string piece(const std::string& text, int type) { return field(1, field(1, text) + field_varint(3, type)); }

// A minimal valid BPE model: <unk>, <s>, </s>, "a", "b", "ab".
std::string minimal_model(const std::string& trainer_extra = "", const std::string& normalizer = "") {
  return piece("<unk>", 2) + piece("<s>", 3) + piece("</s>", 3) + piece("a", 1) + piece("b", 1) + piece("ab", 1) +
         field(2, field_varint(3, 2) + trainer_extra) + field(3, normalizer);
}

}  // namespace

TEST(SentencePieceModel, ReadsTheFixtureModel) {
  SentencePieceModel m = parse_sentencepiece_model(tl::test::slurp(kSmall), kSmall);
  EXPECT_EQ(m.model_type, 2);
  EXPECT_TRUE(m.byte_fallback);
  EXPECT_EQ(m.pieces.size(), 600u);
  EXPECT_EQ(m.pieces[0].type, PieceType::Unknown);
  EXPECT_EQ(m.pieces[1].text, "<s>");
  EXPECT_EQ(m.normalizer_name, "identity");
  EXPECT_TRUE(m.add_dummy_prefix);
  EXPECT_FALSE(m.remove_extra_whitespaces);
  EXPECT_EQ(m.unk_surface, " \xe2\x81\x87 ");
}

TEST(SentencePieceModel, MinimalHandMadeModel) {
  SentencePieceModel m = parse_sentencepiece_model(minimal_model(), "t.model");
  EXPECT_EQ(m.pieces.size(), 6u);
  EXPECT_FALSE(m.byte_fallback);
  EXPECT_TRUE(m.remove_extra_whitespaces);  // proto default
}

TEST(SentencePieceModel, EveryTruncationIsRefusedOrValid) {
  std::string bytes = tl::test::slurp(kSmall);
  ASSERT_GT(bytes.size(), 1000u);
  for (size_t n = 0; n < bytes.size(); n += (n < 200 ? 1 : 7)) {
    try {
      parse_sentencepiece_model(bytes.substr(0, n), "t.model");
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    }
  }
}

TEST(SentencePieceModel, RandomBytesNeverCrash) {
  std::mt19937 rng(9);
  int refused = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string b(rng() % 200, '\0');
    for (char& c : b) c = static_cast<char>(rng());
    if (!parse_error(b).empty()) ++refused;
  }
  EXPECT_GT(refused, 2900);
}

TEST(SentencePieceModel, DamagedFilesHaveSpecificMessages) {
  EXPECT_NE(parse_error("").find("empty file"), std::string::npos);
  EXPECT_NE(parse_error(field_varint(1, 5)).find("field 1 of ModelProto has wire type 0 (expected 2)"), std::string::npos);
  EXPECT_NE(parse_error(varint((1 << 3) | 2) + varint(1000) + "abc").find("length 1000 runs past the end"), std::string::npos);
  EXPECT_NE(parse_error(varint((1 << 3) | 2)).find("truncated varint"), std::string::npos);
  EXPECT_NE(parse_error(std::string(11, '\xff')).find("varint longer than 10 bytes"), std::string::npos);
  EXPECT_NE(parse_error(varint((7 << 3) | 3)).find("group"), std::string::npos);
  EXPECT_NE(parse_error(varint((7 << 3) | 6)).find("invalid wire type 6"), std::string::npos);
  EXPECT_NE(parse_error(field(1, field(1, "x") + varint((2 << 3) | 5) + "ab")).find("truncated 32-bit value"),
            std::string::npos);
  EXPECT_NE(parse_error(field(1, field(1, "x") + field_varint(3, 9))).find("unknown type 9"), std::string::npos);
}

TEST(SentencePieceModel, InconsistentVocabulariesAreRefused) {
  EXPECT_NE(parse_error(piece("a", 1) + field(2, field_varint(3, 2))).find("no unknown piece"), std::string::npos);
  EXPECT_NE(parse_error(minimal_model() + piece("a", 1)).find("\"a\" is already defined"), std::string::npos);
  EXPECT_NE(parse_error(minimal_model() + piece("", 1)).find("is empty"), std::string::npos);
  EXPECT_NE(parse_error(minimal_model() + piece("<0x41>", 6)).find("byte_fallback is false"), std::string::npos);
  EXPECT_NE(parse_error(minimal_model(field_varint(35, 1))).find("no piece <0x00>"), std::string::npos);
  EXPECT_NE(parse_error(minimal_model(field_varint(41, 99))).find("trainer_spec.bos_id = 99"), std::string::npos);
}

TEST(SentencePieceModel, ModelsWeCannotReproduceAreRefusedByName) {
  std::string unigram = piece("<unk>", 2) + piece("a", 1) + field(2, field_varint(3, 1));
  EXPECT_NE(parse_error(unigram).find("model type unigram is not supported"), std::string::npos);
  EXPECT_NE(parse_error(minimal_model("", field(1, "nmt_nfkc") + field(2, "\x01\x02"))).find(
                "normalizer 'nmt_nfkc' with a precompiled character map is not supported"),
            std::string::npos);
  EXPECT_NE(parse_error(minimal_model(field_varint(24, 1))).find("treat_whitespace_as_suffix"), std::string::npos);
}
