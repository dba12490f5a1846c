// tests/fuzz/fuzz_image.cpp — image decoding and preprocessing through the same functions `run` uses
// (decode_image + preprocess_image), on arbitrary bytes, for a small square and a small 'pad' config,
// with the pixel limit lowered to 1 M so that time goes to parsing rather than to decoding huge images.
#include "fuzz_common.h"
#include "model/image.h"

namespace {

tl::VlmConfig config(const char* aspect) {
  tl::VlmConfig c;
  c.vision.image_size = 30;
  c.vision.patch_size = 14;
  c.image_aspect_ratio = aspect;
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const tl::VlmConfig square = config("square"), pad = config("pad");
  tl::fuzz::expect_clean([&] {
    // A 1 M-pixel cap instead of 64 M keeps executions fast; the refusal path is the same code.
    tl::ImageU8 im = tl::decode_image(data, size, "fuzz.img", 1 << 20);
    if (im.width <= 0 || im.height <= 0 || im.rgb.size() != static_cast<size_t>(im.width) * im.height * 3) __builtin_trap();
    const tl::VlmConfig& c = (size & 1) ? pad : square;
    tl::OwnedTensor px = tl::preprocess_image(im, c);
    for (int64_t i = 0; i < px.tensor.numel(); ++i) {
      float v = px.tensor.ptr<float>()[i];
      if (!(v >= -1.0f && v <= 1.0f)) __builtin_trap();
    }
  });
  return 0;
}
