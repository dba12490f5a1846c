// model/image_codecs.h — the decoders PIL itself uses, where the build has them (found by CMake and
// named in its summary), used by decode_image (image.h) ahead of stb_image:
//   JPEG  libjpeg-turbo (image_jpeg.cpp)      PIL's pixels exactly; without it stb_image, a few levels off
//   WebP  libwebp (image_webp.cpp)            without it a WebP is refused, naming the package
//   TIFF  libtiff (image_tiff.cpp)            likewise
//   PNM (P1-P6, any maxval), run-length and 16-bit BMP: written here (image_pnm.cpp), as Pillow decodes them
// Each decode_* returns false when its library is not built in (the caller falls back), fills `out`
// and returns true on success, and throws an input error naming `source` on a bad image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "model/image.h"

namespace tl {

constexpr int kMaxImageSide = 16384;  // the longest side any decoder here accepts (stb_image's limit)

// An input error naming `source` unless 0 < w, h <= kMaxImageSide and w·h <= max_pixels.
void check_image_size(const char* source, int64_t w, int64_t h, int64_t max_pixels);
// One pixel of ink amounts (C, M, Y, K) as Pillow's cmyk2rgb converts it: R = (255 - K) - MULDIV255(C, 255 - K), ...
void cmyk_to_rgb(const uint8_t* cmyk, uint8_t* rgb);
// A decoder's stand-in in a build without its library: refuses the image, naming the package.
[[noreturn]] void missing_decoder(const std::string& source, const char* format, const char* package);

const char* jpeg_decoder();  // "libjpeg-turbo", or the fallback's name and tolerance
bool decode_jpeg(const uint8_t* data, size_t size, const std::string& source, int64_t max_pixels, ImageU8* out);

bool is_webp(const uint8_t* data, size_t size);  // RIFF....WEBP
const char* webp_decoder();
bool decode_webp(const uint8_t* data, size_t size, const std::string& source, int64_t max_pixels, ImageU8* out);

bool is_pnm(const uint8_t* data, size_t size);
ImageU8 decode_pnm(const uint8_t* data, size_t size, const std::string& source, int64_t max_pixels);
bool is_rle_bmp(const uint8_t* data, size_t size);  // BMP with BI_RLE8 / BI_RLE4, which stb_image lacks
ImageU8 decode_rle_bmp(const uint8_t* data, size_t size, const std::string& source, int64_t max_pixels);
bool is_16bit_bmp(const uint8_t* data, size_t size);  // stb_image scales its fields otherwise than Pillow
ImageU8 decode_16bit_bmp(const uint8_t* data, size_t size, const std::string& source, int64_t max_pixels);

bool is_tiff(const uint8_t* data, size_t size);  // II*\0 or MM\0* (or BigTIFF)
const char* tiff_decoder();
bool decode_tiff(const uint8_t* data, size_t size, const std::string& source, int64_t max_pixels, ImageU8* out);

}  // namespace tl
