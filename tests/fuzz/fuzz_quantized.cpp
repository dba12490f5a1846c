// tests/fuzz/fuzz_quantized.cpp — a quantized checkpoint's tensors on arbitrary bytes (the checks:
// quantized_check.h; seeds: corpus/quantized; replayed with mutations in `make test` too).
#include "fuzz_common.h"
#include "quantized_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tl::fuzz::expect_clean([&] { tl::fuzz::check_quantized_checkpoint(data, size); });
  return 0;
}
