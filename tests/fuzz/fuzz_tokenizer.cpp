// tests/fuzz/fuzz_tokenizer.cpp — encoding arbitrary bytes and decoding arbitrary ids with a real
// model (the committed small BPE fixture: byte fallback, user-defined symbols). Checks: ids in range;
// valid UTF-8 input without U+2581 round-trips; the streaming decoder equals the batch decoder and
// never emits a partial character; the chat prompt splices.
#include <memory>

#include "fuzz_common.h"
#include "tokenizer/chat.h"
#include "utf8_check.h"
#include "tokenizer/tokenizer.h"

namespace {

const tl::Tokenizer& model() {
  static std::unique_ptr<tl::Tokenizer> t = std::make_unique<tl::Tokenizer>(
      tl::Tokenizer::load(TINYLLAVA_SOURCE_DIR "/tests/fixtures/tokenizer/small_bpe.model"));
  return *t;
}

// Strictly valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF): what the tokenizer keeps.
bool strict_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80) n = 1, cp = c, min = 0;
    else if ((c >> 5) == 6) n = 2, cp = c & 0x1F, min = 0x80;
    else if ((c >> 4) == 14) n = 3, cp = c & 0x0F, min = 0x800;
    else if ((c >> 3) == 30) n = 4, cp = c & 0x07, min = 0x10000;
    else return false;
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const unsigned char t = s[i + k];
      if ((t & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (t & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const tl::Tokenizer& tok = model();
  std::string_view text = tl::fuzz::as_text(data, size);
  std::vector<int> ids = tok.encode(text);
  for (int id : ids)
    if (id < 0 || id >= tok.vocab_size()) __builtin_trap();
  std::string back = tok.decode(ids);
  if (strict_utf8(text) && text.find("\xe2\x96\x81") == std::string_view::npos && back != text) __builtin_trap();
  // The bytes as ids (two bytes each), through both decoders.
  std::vector<int> raw;
  for (size_t i = 0; i + 1 < size; i += 2) raw.push_back((data[i] | data[i + 1] << 8) % tok.vocab_size());
  for (bool skip : {false, true}) {
    tl::StreamDecoder d(tok, skip);
    std::string streamed;
    for (int id : raw) {
      std::string part = d.push(id);
      if (!tl::test::complete_utf8(part)) __builtin_trap();
      streamed += part;
    }
    if (streamed + d.finish() != tok.decode(raw, skip)) __builtin_trap();
  }
  if (size < 64) tl::prompt_ids(tok, std::string(text) + "<image>" + std::string(text));  // the splice path
  return 0;
}
