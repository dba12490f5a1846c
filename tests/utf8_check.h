// tests/utf8_check.h — UTF-8 checks shared by the tokenizer tests and fuzz target.
#pragma once

#include <cstdint>
#include <string_view>

namespace tl::test {

// Complete sequences only (lead byte and the right number of continuation bytes): what a streaming
// decoder must never split.
inline bool complete_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

}  // namespace tl::test
