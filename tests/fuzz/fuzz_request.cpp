// tests/fuzz/fuzz_request.cpp — the server's request parser (model/server/protocol.h) on arbitrary
// bytes: the first byte picks the endpoint (chat or completions), the rest is the body. Every refusal
// must be an ApiError 400 with a message; an accepted request must give a well-formed answer object.
#include <cstddef>
#include <cstdint>

#include "model/server/protocol.h"
#include "request_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (!tl::fuzz::check_request(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), data[0] & 1))
    __builtin_trap();
  return 0;
}
