// tests/fuzz/fuzz_sentencepiece.cpp — the hand-written protobuf reader of tokenizer.model files; an
// accepted model must then encode and decode a fixed text without failing.
#include "fuzz_common.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tl::fuzz::expect_clean([&] {
    tl::Tokenizer tok = tl::Tokenizer::from_bytes(tl::fuzz::as_text(data, size), "fuzz.model");
    std::vector<int> ids = tok.encode("Hello, wörld! \xF0\x9F\x99\x82 <image>\n\xff");
    tok.decode(ids);
    tok.decode(ids, /*skip_special=*/true);
  });
  return 0;
}
