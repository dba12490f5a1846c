// tokenizer/sentencepiece_model.h — read a SentencePiece `tokenizer.model` without protobuf.
//
// The file is a serialized sentencepiece.ModelProto (sentencepiece_model.proto). We decode the protobuf
// wire format by hand and keep what encoding and decoding need:
//   pieces          (field 1)  piece text, score, type (normal, unknown, control, user-defined, byte, unused)
//   trainer_spec    (field 2)  model_type, byte_fallback, unk/bos/eos/pad ids, treat_whitespace_as_suffix,
//                              unk_surface (what an unknown piece decodes to)
//   normalizer_spec (field 3)  name, precompiled_charsmap, add_dummy_prefix, remove_extra_whitespaces,
//                              escape_whitespaces
//   denormalizer_spec (5)      precompiled_charsmap
// Defaults are the proto's. The checks of sentencepiece's ModelInterface::InitializePieces are applied
// (no empty or duplicate pieces, exactly one unknown piece, 256 well-formed byte pieces iff
// byte_fallback), and a model this engine cannot reproduce exactly is refused with the reason: a
// model type other than BPE, a non-identity normalizer or denormalizer (a precompiled charsmap), or
// whitespace treated as a suffix. Any wire-format damage (truncation, bad lengths, wrong wire types,
// over-long varints, groups) is an error naming the file and byte offset.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tl {

enum class PieceType : uint8_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct SentencePiece {
  std::string text;
  float score = 0;
  PieceType type = PieceType::Normal;
};

struct SentencePieceModel {
  std::vector<SentencePiece> pieces;  // id = index

  // trainer_spec
  int model_type = 1;  // 1 unigram, 2 BPE, 3 word, 4 char (only BPE is accepted)
  bool byte_fallback = false;
  int unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
  bool treat_whitespace_as_suffix = false;
  std::string unk_surface = " \xE2\x81\x87 ";  // " ⁇ "

  // normalizer_spec
  std::string normalizer_name;
  std::string precompiled_charsmap;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
  std::string denormalizer_charsmap;
};

// Parses and validates; `source` names the file in errors.
SentencePieceModel parse_sentencepiece_model(std::string_view bytes, const std::string& source);

// "<0x0A>" -> 10; -1 if `piece` is not a byte piece spelling.
int byte_piece_value(std::string_view piece);

}  // namespace tl
