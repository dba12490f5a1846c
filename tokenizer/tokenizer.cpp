// tokenizer/tokenizer.cpp — SentencePiece BPE encode/decode (contract in tokenizer.h).
//
// Mirrors sentencepiece's normalizer.cc (Normalizer::Normalize / NormalizePrefix), bpe_model.cc
// (Model::SampleEncode without dropout), sentencepiece_processor.cc (PopulateSentencePieceText,
// Decode) and util.cc (DecodeUTF8). Verified id-for-id against the library on
// ../shared/tokenizer/dev_corpus.jsonl and on tests/fixtures/tokenizer (tests/tokenizer/).
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <unordered_map>

#include "tensor/error.h"
#include "weights/file.h"

namespace tl {

namespace {

const char kSpaceSymbol[] = "\xe2\x96\x81";  // U+2581 "▁"
const char kReplacementChar[] = "\xef\xbf\xbd";  // U+FFFD

bool is_trail(unsigned char c) { return (c & 0xC0) == 0x80; }
bool valid_codepoint(uint32_t c) { return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF); }

// sentencepiece's string_util::DecodeUTF8 + IsValidDecodeUTF8: the length of the valid UTF-8
// character at the start of `s`, or 0 if it is malformed (then the library consumes one byte).
size_t valid_utf8_length(std::string_view s) {
  const unsigned char* b = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  if (b[0] < 0x80) return 1;
  if (n >= 2 && (b[0] & 0xE0) == 0xC0) {
    uint32_t cp = ((b[0] & 0x1Fu) << 6) | (b[1] & 0x3Fu);
    return is_trail(b[1]) && cp >= 0x80 && valid_codepoint(cp) ? 2 : 0;
  }
  if (n >= 3 && (b[0] & 0xF0) == 0xE0) {
    uint32_t cp = ((b[0] & 0x0Fu) << 12) | ((b[1] & 0x3Fu) << 6) | (b[2] & 0x3Fu);
    return is_trail(b[1]) && is_trail(b[2]) && cp >= 0x800 && valid_codepoint(cp) ? 3 : 0;
  }
  if (n >= 4 && (b[0] & 0xF8) == 0xF0) {
    uint32_t cp = ((b[0] & 0x07u) << 18) | ((b[1] & 0x3Fu) << 12) | ((b[2] & 0x3Fu) << 6) | (b[3] & 0x3Fu);
    return is_trail(b[1]) && is_trail(b[2]) && is_trail(b[3]) && cp >= 0x10000 && valid_codepoint(cp) ? 4 : 0;
  }
  return 0;
}

// Could the truncated sequence `s` (shorter than its lead byte announces) still become a valid
// character once more bytes arrive? The known bits bound the code point to [lo, hi].
bool may_become_valid_utf8(std::string_view s) {
  const unsigned char* b = reinterpret_cast<const unsigned char*>(s.data());
  size_t need;
  uint32_t lo, min_cp;
  if ((b[0] & 0xE0) == 0xC0) need = 2, lo = b[0] & 0x1Fu, min_cp = 0x80;
  else if ((b[0] & 0xF0) == 0xE0) need = 3, lo = b[0] & 0x0Fu, min_cp = 0x800;
  else if ((b[0] & 0xF8) == 0xF0) need = 4, lo = b[0] & 0x07u, min_cp = 0x10000;
  else return false;
  if (s.size() >= need) return false;
  for (size_t i = 1; i < s.size(); ++i) {
    if (!is_trail(b[i])) return false;
    lo = (lo << 6) | (b[i] & 0x3Fu);
  }
  size_t missing_bits = 6 * (need - s.size());
  lo <<= missing_bits;
  uint32_t hi = lo | ((1u << missing_bits) - 1);
  lo = std::max(lo, min_cp);
  if (lo > hi) return false;
  // Valid code points are [0, 0xD7FF] and [0xE000, 0x10FFFF]; is any of them in [lo, hi]?
  return lo <= 0xD7FF || (hi >= 0xE000 && lo <= 0x10FFFF);
}

// sentencepiece's OneCharLen: the length the lead byte announces (no validation).
size_t one_char_len(unsigned char lead) { return "\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[lead >> 4]; }

}  // namespace

// ---- Construction ---------------------------------------------------------------------------------

Tokenizer Tokenizer::load(const std::string& path) {
  return from_bytes(read_file(path, 64u << 20), path);
}

Tokenizer Tokenizer::from_bytes(std::string_view bytes, const std::string& source) {
  return Tokenizer(parse_sentencepiece_model(bytes, source));
}

Tokenizer::Tokenizer(SentencePieceModel model) : model_(std::move(model)) {
  std::fill(byte_ids_, byte_ids_ + 256, -1);
  for (size_t i = 0; i < model_.pieces.size(); ++i) {
    const SentencePiece& p = model_.pieces[i];
    const int id = static_cast<int>(i);
    switch (p.type) {
      case PieceType::Normal:
      case PieceType::Unused:
        normal_.insert(p.text, id);
        max_piece_bytes_ = std::max(max_piece_bytes_, p.text.size());
        break;
      case PieceType::UserDefined:
        normal_.insert(p.text, id);
        user_defined_.insert(p.text, id);
        max_piece_bytes_ = std::max(max_piece_bytes_, p.text.size());
        max_user_defined_ = std::max(max_user_defined_, p.text.size());
        break;
      case PieceType::Unknown:
        unk_id_ = id;
        reserved_.insert(p.text, id);
        break;
      case PieceType::Byte:
        byte_ids_[byte_piece_value(p.text)] = id;
        reserved_.insert(p.text, id);
        break;
      case PieceType::Control:
        reserved_.insert(p.text, id);
        break;
    }
  }
  space_ = model_.escape_whitespaces ? kSpaceSymbol : " ";
  // With UNUSED pieces the library's resegmentation depends on the global order of merges, so the
  // whole text must be merged as one list to reproduce it.
  words_independent_ = true;
  for (const SentencePiece& p : model_.pieces) {
    if (p.type == PieceType::Unused) words_independent_ = false;
    if (p.type != PieceType::Normal && p.type != PieceType::UserDefined) continue;
    std::string_view t = p.text;
    while (t.compare(0, space_.size(), space_) == 0) t.remove_prefix(space_.size());
    if (t.find(space_) != std::string_view::npos) words_independent_ = false;
  }
}

int Tokenizer::normal_piece_id(std::string_view piece) const { return normal_.find(piece); }

int Tokenizer::piece_to_id(std::string_view piece) const {
  int id = reserved_.find(piece);
  if (id < 0) id = normal_.find(piece);
  return id >= 0 ? id : unk_id_;
}

size_t Tokenizer::user_symbol_at(std::string_view text) const {
  // Longest user-defined symbol that prefixes `text` (sentencepiece's PrefixMatcher).
  for (size_t len = std::min(max_user_defined_, text.size()); len > 0; --len)
    if (user_defined_.find(text.substr(0, len)) >= 0) return len;
  return 0;
}

// ---- Normalization --------------------------------------------------------------------------------

std::string Tokenizer::normalize(std::string_view in) const {
  std::string out;
  if (in.empty()) return out;
  const bool strip_spaces = model_.remove_extra_whitespaces;
  // The next input character as the normalizer sees it: a user-defined symbol, one valid UTF-8
  // character, or U+FFFD standing for one malformed byte. Returns the bytes consumed.
  auto next = [&](std::string_view s, std::string_view* ch) -> size_t {
    size_t n = user_symbol_at(s);
    if (n == 0) n = valid_utf8_length(s);
    if (n == 0) {
      *ch = kReplacementChar;
      return 1;
    }
    *ch = s.substr(0, n);
    return n;
  };
  std::string_view ch;
  if (strip_spaces) {
    while (!in.empty()) {
      size_t n = next(in, &ch);
      if (ch != " ") break;
      in.remove_prefix(n);
    }
    if (in.empty()) return out;
  }
  const std::string_view space = model_.escape_whitespaces ? std::string_view(kSpaceSymbol) : std::string_view(" ");
  out.reserve(in.size() + in.size() / 2 + 4);
  if (model_.add_dummy_prefix) out += space;
  bool prev_space = strip_spaces;
  while (!in.empty()) {
    size_t n = next(in, &ch);
    if (prev_space)
      while (!ch.empty() && ch[0] == ' ') ch.remove_prefix(1);
    if (!ch.empty()) {
      for (char c : ch) {
        if (c == ' ') out += space;
        else out += c;
      }
      prev_space = ch.back() == ' ';
    }
    in.remove_prefix(n);
    if (!strip_spaces) prev_space = false;
  }
  if (strip_spaces)
    while (out.size() >= space.size() && out.compare(out.size() - space.size(), space.size(), space) == 0)
      out.resize(out.size() - space.size());
  return out;
}

// ---- BPE encoding ---------------------------------------------------------------------------------

// One encode's working state. Symbols form doubly linked lists over the normalized text, one list per
// word (or one for the whole text); a merge grows the left symbol and empties the right one.
struct Tokenizer::Bpe {
  struct Symbol {
    int prev, next;
    uint32_t begin, size;
    bool frozen;  // a user-defined symbol: never merged
  };
  // A candidate merge; best first: highest score, then leftmost (bpe_model.cc's SymbolPairComparator).
  struct Pair {
    float score;
    int left, right;
    uint32_t size;  // bytes of the merged piece; a stale entry no longer matches
  };
  struct Worse {
    bool operator()(const Pair& a, const Pair& b) const { return a.score < b.score || (a.score == b.score && a.left > b.left); }
  };

  const Tokenizer& tok;
  std::string_view norm;
  std::vector<Symbol> sym;
  std::vector<int> word_heads;  // first symbol of each list
  std::vector<Pair> agenda;     // a binary heap, reused across words
  // Merged UNUSED pieces are split back into what they were made of (bpe_model.cc's resegment).
  std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>> unmerge;

  std::string_view text_of(const Symbol& s) const { return {norm.data() + s.begin, s.size}; }

  // 1. One symbol per character, a user-defined symbol whole and frozen; a new list at each word.
  void split() {
    sym.reserve(norm.size());
    bool prev_is_space = false;
    for (size_t pos = 0; pos < norm.size();) {
      const std::string_view rest(norm.data() + pos, norm.size() - pos);
      size_t n = tok.user_symbol_at(rest);
      const bool frozen = n > 0;
      if (!frozen) n = std::min(rest.size(), one_char_len(static_cast<unsigned char>(rest[0])));
      const bool is_space = std::string_view(rest.data(), n) == tok.space_;
      const int i = static_cast<int>(sym.size());
      const bool new_word = i == 0 || (tok.words_independent_ && is_space && !prev_is_space);
      if (new_word) word_heads.push_back(i);
      else sym[i - 1].next = i;
      sym.push_back({new_word ? -1 : i - 1, -1, static_cast<uint32_t>(pos), static_cast<uint32_t>(n), frozen});
      prev_is_space = is_space;
      pos += n;
    }
  }

  // The pair (l, r) onto the agenda when their concatenation is a piece BPE may merge into.
  void consider(int l, int r) {
    if (l < 0 || r < 0 || sym[l].frozen || sym[r].frozen) return;
    const uint32_t size = sym[l].size + sym[r].size;
    if (size > tok.max_piece_bytes_) return;
    const std::string_view merged(norm.data() + sym[l].begin, size);
    const int id = tok.normal_piece_id(merged);
    if (id < 0) return;
    const SentencePiece& piece = tok.model_.pieces[id];
    agenda.push_back({piece.score, l, r, size});
    std::push_heap(agenda.begin(), agenda.end(), Worse());
    if (piece.type == PieceType::Unused) unmerge[merged] = {text_of(sym[l]), text_of(sym[r])};
  }

  // 2. Each list: merge the best pair until none is left.
  void merge() {
    for (int head : word_heads) {
      agenda.clear();
      for (int i = head; sym[i].next >= 0; i = sym[i].next) consider(i, sym[i].next);
      while (!agenda.empty()) {
        std::pop_heap(agenda.begin(), agenda.end(), Worse());
        const Pair top = agenda.back();
        agenda.pop_back();
        Symbol& l = sym[top.left];
        Symbol& r = sym[top.right];
        if (l.size == 0 || r.size == 0 || l.size + r.size != top.size) continue;  // stale
        l.size += r.size;
        l.next = r.next;
        if (r.next >= 0) sym[r.next].prev = top.left;
        r.size = 0;
        consider(l.prev, top.left);
        consider(top.left, l.next);
      }
    }
  }

  // 3. The final symbols as ids (PopulateSentencePieceText), UNUSED pieces split back depth-first,
  // left part first; unknowns become bytes, or collapse into one.
  void emit(std::vector<int>& ids, std::vector<std::string>* pieces) const {
    bool prev_unknown = false;
    auto one = [&](std::string_view w) {
      const int id = tok.piece_to_id(w);
      const bool unknown = tok.model_.pieces[id].type == PieceType::Unknown;
      if (unknown && tok.model_.byte_fallback) {
        for (unsigned char b : w) {
          ids.push_back(tok.byte_ids_[b]);
          if (pieces) pieces->push_back(tok.model_.pieces[tok.byte_ids_[b]].text);
        }
      } else if (unknown && prev_unknown) {
        if (pieces) pieces->back() += std::string(w);
      } else {
        ids.push_back(id);
        if (pieces) pieces->emplace_back(w);
      }
      prev_unknown = unknown;
    };
    std::vector<std::string_view> stack;
    for (int head : word_heads) {
      for (int i = head; i >= 0; i = sym[i].next) {
        stack.assign(1, text_of(sym[i]));
        while (!stack.empty()) {
          const std::string_view w = stack.back();
          stack.pop_back();
          const int id = tok.piece_to_id(w);
          const auto it = tok.model_.pieces[id].type == PieceType::Unused ? unmerge.find(w) : unmerge.end();
          if (it == unmerge.end()) {
            one(w);
          } else {
            stack.push_back(it->second.second);
            stack.push_back(it->second.first);
          }
        }
      }
    }
  }
};

std::vector<int> Tokenizer::encode(std::string_view text, std::vector<std::string>* pieces) const {
  const std::string norm = normalize(text);
  std::vector<int> ids;
  if (pieces) pieces->clear();
  if (norm.empty()) return ids;
  Bpe bpe{*this, norm, {}, {}, {}, {}};
  bpe.split();
  bpe.merge();
  bpe.emit(ids, pieces);
  return ids;
}

// ---- Decoding -------------------------------------------------------------------------------------

std::string Tokenizer::piece_text(int id, bool at_start, bool* consumed_space) const {
  *consumed_space = false;
  const SentencePiece& p = model_.pieces[id];
  if (p.type == PieceType::Control) return "";
  if (p.type == PieceType::Unknown) return model_.unk_surface;
  std::string_view s = p.text;
  if (at_start && (model_.add_dummy_prefix || model_.remove_extra_whitespaces)) {
    if (s.compare(0, 3, kSpaceSymbol) == 0) {
      s.remove_prefix(3);
      *consumed_space = !model_.remove_extra_whitespaces;
    }
  }
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 3, kSpaceSymbol) == 0) {
      out += ' ';
      i += 3;
    } else {
      out += s[i++];
    }
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int>& ids, bool skip_special) const {
  StreamDecoder d(*this, skip_special);
  std::string out;
  for (int id : ids) out += d.push(id);
  return out + d.finish();
}

std::string StreamDecoder::drain_bytes(bool final) {
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    std::string_view rest(pending_.data() + i, pending_.size() - i);
    size_t n = valid_utf8_length(rest);
    if (n > 0) {
      out.append(rest.data(), n);
      i += n;
    } else if (!final && may_become_valid_utf8(rest)) {
      break;  // wait for the rest of this character
    } else {
      out += kReplacementChar;  // one malformed byte
      ++i;
    }
  }
  pending_.erase(0, i);
  if (!out.empty()) emitted_any_ = true;
  return out;
}

std::string StreamDecoder::push(int id) {
  if (id < 0 || id >= tok_.vocab_size())
    fail_input("token id %d is out of range (expected 0..%d)", id, tok_.vocab_size() - 1);
  PieceType type = tok_.type(id);
  if (skip_special_ && (type == PieceType::Control || type == PieceType::Unknown)) return "";
  if (type == PieceType::Byte) {
    pending_ += static_cast<char>(byte_piece_value(tok_.piece(id)));
    return drain_bytes(false);
  }
  std::string out = drain_bytes(true);
  // Only the first visible piece loses its dummy-prefix space (Decode's is_bos_ws).
  if (space_consumed_ || emitted_any_) at_start_ = false;
  std::string text = tok_.piece_text(id, at_start_, &space_consumed_);
  if (!text.empty()) emitted_any_ = true;
  return out + text;
}

std::string StreamDecoder::finish() { return drain_bytes(true); }

}  // namespace tl
