// model/image_webp.cpp — WebP through libwebp, the library PIL itself uses (contract in
// image_codecs.h): the first frame through WebPAnimDecoder (as Pillow's WebPImagePlugin does, for
// stills too), RGBA, alpha dropped as convert("RGB") does. Lossy, lossless, alpha and animations.
#include "model/image_codecs.h"

#if TL_HAVE_LIBWEBP
#include <webp/decode.h>
#include <webp/demux.h>
#endif

#include <algorithm>
#include <memory>

#include "tensor/error.h"

namespace tl {

bool is_webp(const uint8_t* d, size_t n) {
  return n >= 12 && std::equal(d, d + 4, "RIFF") && std::equal(d + 8, d + 12, "WEBP");
}

#if TL_HAVE_LIBWEBP

const char* webp_decoder() { return "libwebp"; }

bool decode_webp(const uint8_t* data, size_t size, const std::string& source, int64_t max_pixels, ImageU8* out) {
  const char* src = source.c_str();
  WebPBitstreamFeatures f;
  if (WebPGetFeatures(data, size, &f) != VP8_STATUS_OK) fail_input("%s: cannot decode image (WebP header)", src);
  check_image_size(src, f.width, f.height, max_pixels);
  WebPAnimDecoderOptions options;
  if (!WebPAnimDecoderOptionsInit(&options)) fail_internal("WebPAnimDecoderOptionsInit failed");
  options.color_mode = MODE_RGBA;
  options.use_threads = 0;
  const WebPData whole = {data, size};
  std::unique_ptr<WebPAnimDecoder, void (*)(WebPAnimDecoder*)> dec(WebPAnimDecoderNew(&whole, &options),
                                                                    WebPAnimDecoderDelete);
  if (!dec) fail_input("%s: cannot decode image (WebP container)", src);
  WebPAnimInfo info;
  uint8_t* rgba = nullptr;
  int timestamp = 0;
  if (!WebPAnimDecoderGetInfo(dec.get(), &info) || !WebPAnimDecoderGetNext(dec.get(), &rgba, &timestamp) || !rgba)
    fail_input("%s: cannot decode image (WebP data)", src);
  out->width = static_cast<int>(info.canvas_width);
  out->height = static_cast<int>(info.canvas_height);
  const size_t n = static_cast<size_t>(out->width) * out->height;
  out->rgb.resize(n * 3);
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) out->rgb[3 * i + c] = rgba[4 * i + c];
  return true;
}

#else

const char* webp_decoder() { return "none (build without libwebp)"; }
bool decode_webp(const uint8_t*, size_t, const std::string& source, int64_t, ImageU8*) {
  missing_decoder(source, "WebP", "libwebp-dev");
}

#endif

}  // namespace tl
