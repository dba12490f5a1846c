// tokenizer/tokenizer.h — SentencePiece BPE encoding and decoding, identical to the sentencepiece
// library (the Llama-2 tokenizer of TinyLLaVA is such a model).
//
// encode(text), as SentencePieceProcessor::Encode does it:
//   1. normalize: identity character map; invalid UTF-8 bytes become U+FFFD one byte at a time;
//      optional removal of extra whitespace; a dummy-prefix "▁" (U+2581) in front of non-empty text;
//      spaces escaped to "▁"; user-defined symbols kept whole;
//   2. BPE: split into characters (user-defined symbols as one frozen symbol), then repeatedly merge
//      the adjacent pair whose concatenation is a vocabulary piece with the highest score, the
//      leftmost on ties (bpe_model.cc), in O(n log n); merges into UNUSED pieces are undone;
//   3. a symbol outside the vocabulary becomes its UTF-8 bytes as <0xNN> pieces when the model has
//      byte fallback, else the unknown id (consecutive unknowns collapse into one).
// No BOS/EOS is added; callers add them.
//
// decode(ids), as SentencePieceProcessor::Decode: "▁" -> space, the first piece's leading "▁"
// dropped (the dummy prefix), runs of byte pieces reassembled into UTF-8 with U+FFFD for each
// invalid byte, control pieces invisible, the unknown piece shown as unk_surface (" ⁇ ").
// With skip_special (as Hugging Face's skip_special_tokens) control and unknown ids are dropped.
//
// StreamDecoder produces the same text incrementally, never emitting part of a UTF-8 character.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/piece_map.h"
#include "tokenizer/sentencepiece_model.h"

namespace tl {

class Tokenizer {
 public:
  // Reads a tokenizer.model file (at most 64 MB).
  static Tokenizer load(const std::string& path);
  static Tokenizer from_bytes(std::string_view bytes, const std::string& source);

  // Ids of `text` (any bytes). When `pieces` is given it receives the piece strings, as
  // sentencepiece's encode(out_type=str) returns them.
  std::vector<int> encode(std::string_view text, std::vector<std::string>* pieces = nullptr) const;
  std::string decode(const std::vector<int>& ids, bool skip_special = false) const;

  int vocab_size() const { return static_cast<int>(model_.pieces.size()); }
  const std::string& piece(int id) const { return model_.pieces.at(id).text; }
  PieceType type(int id) const { return model_.pieces.at(id).type; }
  int bos_id() const { return model_.bos_id; }
  int eos_id() const { return model_.eos_id; }
  int unk_id() const { return unk_id_; }
  const SentencePieceModel& model() const { return model_; }

  // The normalized form of `text` that BPE works on (exposed for tests).
  std::string normalize(std::string_view text) const;

 private:
  friend class StreamDecoder;
  explicit Tokenizer(SentencePieceModel model);
  int piece_to_id(std::string_view piece) const;  // reserved pieces first, then normal; else unk
  int normal_piece_id(std::string_view piece) const;  // -1 if not a normal/user-defined/unused piece
  size_t user_symbol_at(std::string_view text) const;  // length of the longest user-defined symbol prefix
  // One non-byte piece as text; `at_start` drops a leading "▁". Sets *consumed_space if it did.
  std::string piece_text(int id, bool at_start, bool* consumed_space) const;
  struct Bpe;  // one encode's symbols, merge agenda and split-back table (tokenizer.cpp)

  SentencePieceModel model_;
  PieceMap normal_;        // NORMAL, USER_DEFINED, UNUSED pieces: what BPE may merge into
  PieceMap reserved_;      // UNKNOWN, CONTROL, BYTE pieces
  PieceMap user_defined_;  // matched whole before anything else
  size_t max_user_defined_ = 0;
  size_t max_piece_bytes_ = 0;
  // True when no piece has a space symbol after a non-space character (and none is UNUSED): then no
  // merge can cross the start of a whitespace run, and BPE runs word by word with the same result
  // and far better locality.
  bool words_independent_ = false;
  std::string space_;      // "▁", or " " when the model does not escape whitespace
  int unk_id_ = 0;
  int byte_ids_[256];
};

class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special = false) : tok_(tok), skip_special_(skip_special) {}
  // Text that is now final after appending `id` (possibly empty).
  std::string push(int id);
  // The rest, at the end of the stream (incomplete UTF-8 becomes U+FFFD per byte).
  std::string finish();

 private:
  std::string drain_bytes(bool final);
  const Tokenizer& tok_;
  bool skip_special_;
  std::string pending_;       // byte-piece bytes not yet emitted
  bool emitted_any_ = false;     // some non-empty text was produced
  bool space_consumed_ = false;  // the last piece gave up its leading "▁" as the dummy prefix
  bool at_start_ = true;         // no visible text yet: the next piece may drop a leading "▁"
};

}  // namespace tl
