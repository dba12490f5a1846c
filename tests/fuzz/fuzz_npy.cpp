// tests/fuzz/fuzz_npy.cpp — the .npy reader behind `--pixels`, on arbitrary bytes.
#include "fuzz_common.h"
#include "weights/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tl::fuzz::expect_clean([&] {
    tl::OwnedTensor t = tl::parse_npy_f32(data, size, "fuzz.npy");
    if (t.tensor.nbytes() > size) __builtin_trap();
  });
  return 0;
}
