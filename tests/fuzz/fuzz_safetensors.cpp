// tests/fuzz/fuzz_safetensors.cpp — safetensors header and tensor-table validation on arbitrary bytes
// (the whole input is the file); every accepted tensor's data is read to the last byte.
#include "fuzz_common.h"
#include "weights/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tl::fuzz::expect_clean([&] {
    tl::SafetensorsHeader h = tl::parse_safetensors(data, size, "fuzz.safetensors");
    volatile uint8_t sink = 0;
    for (const tl::TensorEntry& e : h.tensors)
      if (e.nbytes) sink = sink ^ e.data[0] ^ e.data[e.nbytes - 1];
  });
  return 0;
}
