// tests/fuzz/fuzz_common.h — shared by the libFuzzer targets: run a parser on the input, accept the
// documented failure (tl::Error with a message), let anything else — a crash, a sanitizer report, an
// unexpected exception, a leak — reach libFuzzer as a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tensor/error.h"

namespace tl::fuzz {

template <typename F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const tl::Error& e) {
    if (std::string(e.what()).empty()) __builtin_trap();  // every refusal must say why
  }
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace tl::fuzz
