// model/image_jpeg.cpp — JPEG through libjpeg(-turbo), the decoder PIL itself uses (contract in
// image_codecs.h). With libjpeg's defaults (the integer "islow" IDCT, fancy chroma upsampling) the
// pixels are PIL's, byte for byte. Colour as Image.open(...).convert("RGB") does it:
//   YCbCr / RGB     libjpeg's RGB output
//   greyscale       L, each value repeated in R, G and B
//   CMYK / YCCK     libjpeg's CMYK output, inverted (PIL reads every CMYK JPEG as "CMYK;I", the Adobe
//                   convention), then Pillow's cmyk2rgb: R = (255 - K) - MULDIV255(C, 255 - K), …
// EXIF orientation is not applied (PIL does not either). A decoder error, or data that ends early, is
// an input error naming the file.
#include "model/image_codecs.h"

#if TL_HAVE_LIBJPEG
#include <csetjmp>
#include <cstdio>
#include <jpeglib.h>
#include <jerror.h>
#endif

#include <algorithm>

#include "tensor/error.h"

namespace tl {

#if TL_HAVE_LIBJPEG

namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {};
};

void on_error(j_common_ptr c) {
  ErrorManager* e = reinterpret_cast<ErrorManager*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->jump, 1);
}

// Warnings: data that ends early is an error (PIL refuses a truncated JPEG: "image file is truncated");
// other warnings (extraneous bytes before a marker, …) are ignored, as Pillow ignores them; trace
// messages (level > 0) too.
void on_message(j_common_ptr c, int level) {
  if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) on_error(c);
}

void cmyk_row_to_rgb(const uint8_t* cmyk, int width, uint8_t* rgb) {
  for (int x = 0; x < width; ++x) {
    const uint8_t ink[4] = {static_cast<uint8_t>(255 - cmyk[4 * x]), static_cast<uint8_t>(255 - cmyk[4 * x + 1]),
                            static_cast<uint8_t>(255 - cmyk[4 * x + 2]), static_cast<uint8_t>(255 - cmyk[4 * x + 3])};
    cmyk_to_rgb(ink, rgb + 3 * x);  // the inverted (Adobe) samples back to ink amounts
  }
}

// The decode proper, between setjmp and the caller's cleanup: nothing here may own memory that a
// longjmp would leak (the rows live in `out` and `row`, owned by the caller).
void read_pixels(jpeg_decompress_struct& c, const char* src, int64_t max_pixels, ImageU8& out,
                 std::vector<uint8_t>& row) {
  jpeg_read_header(&c, TRUE);
  const bool cmyk = c.jpeg_color_space == JCS_CMYK || c.jpeg_color_space == JCS_YCCK;
  const bool grey = c.jpeg_color_space == JCS_GRAYSCALE;
  c.out_color_space = cmyk ? JCS_CMYK : grey ? JCS_GRAYSCALE : JCS_RGB;
  check_image_size(src, c.image_width, c.image_height, max_pixels);
  jpeg_start_decompress(&c);
  out.width = static_cast<int>(c.output_width);
  out.height = static_cast<int>(c.output_height);
  out.rgb.assign(static_cast<size_t>(out.width) * out.height * 3, 0);
  row.resize(static_cast<size_t>(out.width) * c.output_components);
  while (c.output_scanline < c.output_height) {
    uint8_t* dst = out.rgb.data() + static_cast<size_t>(c.output_scanline) * out.width * 3;
    JSAMPROW r = row.data();
    if (jpeg_read_scanlines(&c, &r, 1) != 1) fail_input("%s: cannot decode image (JPEG data ends early)", src);
    if (cmyk) {
      cmyk_row_to_rgb(row.data(), out.width, dst);
    } else if (grey) {
      for (int x = 0; x < out.width; ++x) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
    } else {
      std::copy(row.begin(), row.end(), dst);
    }
  }
  jpeg_finish_decompress(&c);
}

}  // namespace

const char* jpeg_decoder() { return "libjpeg-turbo"; }

bool decode_jpeg(const uint8_t* data, size_t size, const std::string& source, int64_t max_pixels, ImageU8* out) {
  jpeg_decompress_struct c;
  ErrorManager e;
  c.err = jpeg_std_error(&e.pub);
  e.pub.error_exit = on_error;
  e.pub.emit_message = on_message;
  std::vector<uint8_t> row;
  std::string failure;
  volatile bool created = false;  // read after a longjmp: volatile
  if (setjmp(e.jump)) {  // before jpeg_create_decompress: it can fail too
    failure = e.message;
  } else {
    jpeg_create_decompress(&c);
    created = true;
    try {
      jpeg_mem_src(&c, data, static_cast<unsigned long>(size));
      read_pixels(c, source.c_str(), max_pixels, *out, row);
    } catch (...) {
      jpeg_destroy_decompress(&c);
      throw;
    }
  }
  if (created) jpeg_destroy_decompress(&c);
  if (!failure.empty()) fail_input("%s: cannot decode image (JPEG: %s)", source.c_str(), failure.c_str());
  return true;
}

#else

const char* jpeg_decoder() { return "stb_image (not PIL-exact: up to a few levels off)"; }
bool decode_jpeg(const uint8_t*, size_t, const std::string&, int64_t, ImageU8*) { return false; }

#endif

}  // namespace tl
