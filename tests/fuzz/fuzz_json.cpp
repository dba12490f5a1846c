// tests/fuzz/fuzz_json.cpp — the strict JSON reader (weights/json.h) on arbitrary bytes; accepted
// documents must survive a dump/parse round trip unchanged.
#include "fuzz_common.h"
#include "weights/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tl::fuzz::expect_clean([&] {
    tl::json::Value v = tl::json::parse(tl::fuzz::as_text(data, size), "fuzz.json");
    std::string once = tl::json::dump(v);
    if (tl::json::dump(tl::json::parse(once, "dump")) != once) __builtin_trap();
  });
  return 0;
}
