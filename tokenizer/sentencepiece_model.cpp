// tokenizer/sentencepiece_model.cpp — protobuf wire-format decoding of sentencepiece.ModelProto.
#include "tokenizer/sentencepiece_model.h"

#include <cstring>
#include <unordered_set>

#include "tensor/error.h"

namespace tl {

namespace {

enum WireType { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// Reads one protobuf message: a sequence of (key, value) fields.
class ProtoReader {
 public:
  ProtoReader(std::string_view data, size_t base_offset, const std::string& source, const char* message)
      : p_(reinterpret_cast<const uint8_t*>(data.data())), begin_(p_), end_(p_ + data.size()),
        base_(base_offset), source_(source), message_(message) {}

  // Reads the next field key; false at the end of the message.
  bool next(uint32_t* field, int* wire) {
    if (p_ == end_) return false;
    size_t at = offset();
    uint64_t key = varint();
    *field = static_cast<uint32_t>(key >> 3);
    *wire = static_cast<int>(key & 7);
    if (*field == 0 || key >> 32) fail(at, strfmt("invalid field number %llu", static_cast<unsigned long long>(key >> 3)));
    if (*wire == 3 || *wire == 4) fail(at, strfmt("field %u uses a protobuf group (not supported)", *field));
    if (*wire != kVarint && *wire != kFixed64 && *wire != kLengthDelimited && *wire != kFixed32)
      fail(at, strfmt("field %u has invalid wire type %d", *field, *wire));
    return true;
  }

  uint64_t varint() {
    size_t at = offset();
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) fail(at, "truncated varint");
      uint8_t b = *p_++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail(at, "varint longer than 10 bytes");
  }

  uint32_t fixed32() {
    if (end_ - p_ < 4) fail(offset(), "truncated 32-bit value");
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | p_[i];
    p_ += 4;
    return v;
  }

  // A length-delimited value; `*at` receives its offset in the file.
  std::string_view bytes(size_t* at = nullptr) {
    size_t len_at = offset();
    uint64_t n = varint();
    if (n > static_cast<uint64_t>(end_ - p_))
      fail(len_at, strfmt("length %llu runs past the end of the %s (%zu bytes left)", static_cast<unsigned long long>(n),
                          message_, static_cast<size_t>(end_ - p_)));
    if (at) *at = offset();
    std::string_view s(reinterpret_cast<const char*>(p_), static_cast<size_t>(n));
    p_ += n;
    return s;
  }

  void skip(int wire) {
    switch (wire) {
      case kVarint: varint(); return;
      case kFixed64:
        if (end_ - p_ < 8) fail(offset(), "truncated 64-bit value");
        p_ += 8;
        return;
      case kLengthDelimited: bytes(); return;
      case kFixed32: fixed32(); return;
    }
  }

  // Typed readers that first check the wire type of field `field`.
  void expect(uint32_t field, int wire, int want) {
    if (wire != want)
      fail(offset(), strfmt("field %u of %s has wire type %d (expected %d)", field, message_, wire, want));
  }
  bool read_bool(uint32_t field, int wire) { return expect(field, wire, kVarint), varint() != 0; }
  int read_int32(uint32_t field, int wire) { return expect(field, wire, kVarint), static_cast<int32_t>(varint()); }
  float read_float(uint32_t field, int wire) {
    expect(field, wire, kFixed32);
    uint32_t u = fixed32();
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  std::string_view read_bytes(uint32_t field, int wire, size_t* at = nullptr) {
    expect(field, wire, kLengthDelimited);
    return bytes(at);
  }

  size_t offset() const { return base_ + static_cast<size_t>(p_ - begin_); }
  [[noreturn]] void fail(size_t at, const std::string& what) const {
    fail_input("%s: malformed model at byte %zu: %s", source_.c_str(), at, what.c_str());
  }

 private:
  const uint8_t* p_;
  const uint8_t* begin_;
  const uint8_t* end_;
  size_t base_;
  const std::string& source_;
  const char* message_;
};

void parse_piece(std::string_view data, size_t base, const std::string& source, SentencePieceModel* m) {
  ProtoReader r(data, base, source, "SentencePiece");
  SentencePiece sp;
  uint32_t f;
  int w;
  while (r.next(&f, &w)) {
    if (f == 1) sp.text = std::string(r.read_bytes(f, w));
    else if (f == 2) sp.score = r.read_float(f, w);
    else if (f == 3) {
      int t = r.read_int32(f, w);
      if (t < 1 || t > 6) r.fail(r.offset(), strfmt("piece %zu has unknown type %d", m->pieces.size(), t));
      sp.type = static_cast<PieceType>(t);
    } else r.skip(w);
  }
  m->pieces.push_back(std::move(sp));
}

void parse_trainer_spec(std::string_view data, size_t base, const std::string& source, SentencePieceModel* m) {
  ProtoReader r(data, base, source, "TrainerSpec");
  uint32_t f;
  int w;
  while (r.next(&f, &w)) {
    switch (f) {
      case 3: m->model_type = r.read_int32(f, w); break;
      case 24: m->treat_whitespace_as_suffix = r.read_bool(f, w); break;
      case 35: m->byte_fallback = r.read_bool(f, w); break;
      case 40: m->unk_id = r.read_int32(f, w); break;
      case 41: m->bos_id = r.read_int32(f, w); break;
      case 42: m->eos_id = r.read_int32(f, w); break;
      case 43: m->pad_id = r.read_int32(f, w); break;
      case 44: m->unk_surface = std::string(r.read_bytes(f, w)); break;
      default: r.skip(w);
    }
  }
}

void parse_normalizer_spec(std::string_view data, size_t base, const std::string& source, SentencePieceModel* m,
                           bool denormalizer) {
  ProtoReader r(data, base, source, "NormalizerSpec");
  uint32_t f;
  int w;
  while (r.next(&f, &w)) {
    if (denormalizer) {
      if (f == 2) m->denormalizer_charsmap = std::string(r.read_bytes(f, w));
      else r.skip(w);
      continue;
    }
    switch (f) {
      case 1: m->normalizer_name = std::string(r.read_bytes(f, w)); break;
      case 2: m->precompiled_charsmap = std::string(r.read_bytes(f, w)); break;
      case 3: m->add_dummy_prefix = r.read_bool(f, w); break;
      case 4: m->remove_extra_whitespaces = r.read_bool(f, w); break;
      case 5: m->escape_whitespaces = r.read_bool(f, w); break;
      default: r.skip(w);
    }
  }
}

// The checks of sentencepiece's ModelInterface::InitializePieces, plus what we refuse to approximate.
void validate(const SentencePieceModel& m, const std::string& src) {
  const char* s = src.c_str();
  if (m.pieces.empty()) fail_input("%s: the model has no pieces", s);
  if (m.pieces.size() > (1u << 24)) fail_input("%s: %zu pieces (expected at most 16777216)", s, m.pieces.size());
  if (m.model_type != 2) {
    const char* names[] = {"?", "unigram", "BPE", "word", "char"};
    fail_input("%s: model type %s is not supported (expected BPE, like the Llama-2 tokenizer)", s,
               m.model_type >= 1 && m.model_type <= 4 ? names[m.model_type] : "unknown");
  }
  if (!m.precompiled_charsmap.empty())
    fail_input("%s: normalizer '%s' with a precompiled character map is not supported (expected identity)", s,
               m.normalizer_name.c_str());
  if (!m.denormalizer_charsmap.empty()) fail_input("%s: a denormalizer is not supported", s);
  if (m.treat_whitespace_as_suffix) fail_input("%s: treat_whitespace_as_suffix is not supported", s);

  std::unordered_set<std::string_view> normal, reserved;
  int unknown = -1, bytes = 0;
  std::vector<bool> byte_seen(256, false);
  for (size_t i = 0; i < m.pieces.size(); ++i) {
    const SentencePiece& p = m.pieces[i];
    if (p.text.empty()) fail_input("%s: piece %zu is empty", s, i);
    bool is_normal = p.type == PieceType::Normal || p.type == PieceType::UserDefined || p.type == PieceType::Unused;
    if (!(is_normal ? normal : reserved).insert(p.text).second)
      fail_input("%s: piece %zu \"%s\" is already defined", s, i, p.text.c_str());
    if (p.type == PieceType::Unknown) {
      if (unknown >= 0) fail_input("%s: pieces %d and %zu are both the unknown piece", s, unknown, i);
      unknown = static_cast<int>(i);
    }
    if (p.type == PieceType::Byte) {
      if (!m.byte_fallback) fail_input("%s: byte piece %zu \"%s\" but byte_fallback is false", s, i, p.text.c_str());
      int b = byte_piece_value(p.text);
      if (b < 0) fail_input("%s: byte piece %zu \"%s\" is not of the form <0xNN>", s, i, p.text.c_str());
      byte_seen[b] = true;
      ++bytes;
    }
  }
  if (unknown < 0) fail_input("%s: no unknown piece (expected one piece of type UNKNOWN)", s);
  if (m.byte_fallback)
    for (int b = 0; b < 256; ++b)
      if (!byte_seen[b]) fail_input("%s: byte_fallback is true but there is no piece <0x%02X>", s, b);
  const int n = static_cast<int>(m.pieces.size());
  auto check_id = [&](const char* name, int id) {
    if (id < -1 || id >= n) fail_input("%s: trainer_spec.%s = %d (expected -1 or an id below %d)", s, name, id, n);
  };
  check_id("unk_id", m.unk_id);
  check_id("bos_id", m.bos_id);
  check_id("eos_id", m.eos_id);
  check_id("pad_id", m.pad_id);
}

}  // namespace

int byte_piece_value(std::string_view piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    char c = piece[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else return -1;
  }
  return v;
}

SentencePieceModel parse_sentencepiece_model(std::string_view bytes, const std::string& source) {
  if (bytes.empty()) fail_input("%s: empty file (expected a SentencePiece model)", source.c_str());
  SentencePieceModel m;
  ProtoReader r(bytes, 0, source, "ModelProto");
  uint32_t f;
  int w;
  while (r.next(&f, &w)) {
    size_t at = 0;
    if (f == 1) {
      std::string_view d = r.read_bytes(f, w, &at);
      parse_piece(d, at, source, &m);
    } else if (f == 2) {
      std::string_view d = r.read_bytes(f, w, &at);
      parse_trainer_spec(d, at, source, &m);
    } else if (f == 3 || f == 5) {
      std::string_view d = r.read_bytes(f, w, &at);
      parse_normalizer_spec(d, at, source, &m, f == 5);
    } else {
      r.skip(w);
    }
  }
  validate(m, source);
  return m;
}

}  // namespace tl
