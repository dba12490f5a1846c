// tests/fuzz/fuzz_config.cpp — config.json validation and everything derived from an accepted config:
// per-layer dimensions and the full checkpoint layout (names and shapes of every tensor).
#include "fuzz_common.h"
#include "weights/config.h"
#include "weights/layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tl::fuzz::expect_clean([&] {
    tl::VlmConfig c = tl::parse_config(tl::json::parse(tl::fuzz::as_text(data, size), "config.json"), "config.json");
    int64_t params = 0;
    for (const tl::TensorSpec& s : tl::checkpoint_layout(c)) params += tl::checked_numel(s.shape, s.name.c_str());
    if (params <= 0 || c.image_tokens() <= 0 || c.text.kv_dim_total() <= 0) __builtin_trap();
  });
  return 0;
}
