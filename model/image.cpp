// model/image.cpp — decode, RGB conversion, pad, Pillow-exact bicubic resize, normalization
// (contract in image.h).
#include "model/image.h"

#include "model/image_codecs.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include <stb/stb_image.h>

#include "tensor/error.h"
#include "weights/file.h"

namespace tl {

namespace {

struct StbFree {
  void operator()(void* p) const { stbi_image_free(p); }
};

// Two flaws of stb_image's (Debian's 2022 copy) JPEG Huffman tables, found by tests/fuzz/fuzz_image:
// it builds each table with a 257-entry size list without checking that the 16 code-length counts sum
// to at most 256 (a crafted DHT segment writes past it), and it decodes a scan with whatever table
// number the scan names, defined or not (an undefined table is uninitialised memory: its decoder runs
// past the table's arrays). Walk the JPEG's marker segments first and refuse such a table, and a scan
// that uses a table no DHT segment defined before it. Entropy-coded data after SOS is skipped up to the
// next marker, so progressive files' later segments are checked too.
void check_jpeg_huffman_tables(const uint8_t* d, size_t n, const char* src) {
  // stb_image takes any run of 0xFF followed by 0xD8 as the start of a JPEG.
  size_t i = 0;
  while (i < n && d[i] == 0xFF) ++i;
  if (i == 0 || i >= n || d[i] != 0xD8) return;  // not a JPEG
  ++i;
  bool defined[2][4] = {};  // [DC, AC][table number]: seen in a DHT segment so far
  bool progressive = false;
  while (i + 1 < n) {
    if (d[i] != 0xFF) {  // entropy-coded data: find the next real marker
      ++i;
      continue;
    }
    const uint8_t m = d[i + 1];
    if (m == 0xFF || m == 0x00 || (m >= 0xD0 && m <= 0xD8) || m == 0x01) {  // fill, stuffing, RSTn, SOI, TEM
      i += m == 0xFF ? 1 : 2;
      continue;
    }
    if (m == 0xD9) return;  // EOI
    if (i + 4 > n) return;  // truncated: stb_image reports it
    const size_t len = (static_cast<size_t>(d[i + 2]) << 8) | d[i + 3];
    if (m == 0xC0 || m == 0xC1 || m == 0xC2) progressive = m == 0xC2;  // the frame types stb_image reads
    if (m == 0xDA && i + 5 < n) {
      // SOS: Ns, then (component, DC table << 4 | AC table) per component, then Ss, Se, Ah << 4 | Al.
      // Baseline scans decode with both tables; progressive DC first passes with the DC table only,
      // DC refinements with none, AC scans with the AC table only (as stb_image does).
      const size_t ns = d[i + 4], tail = i + 5 + 2 * ns;
      if (tail + 2 < n) {
        const int ss = d[tail], ah = d[tail + 2] >> 4;
        const bool uses_dc = !progressive || (ss == 0 && ah == 0), uses_ac = !progressive || ss > 0;
        for (size_t c = 0; c < ns; ++c) {
          const int td = d[i + 6 + 2 * c] >> 4, ta = d[i + 6 + 2 * c] & 15;
          if ((uses_dc && td <= 3 && !defined[0][td]) || (uses_ac && ta <= 3 && !defined[1][ta]))
            fail_input("%s: cannot decode image (corrupt JPEG: a scan uses Huffman table %s%d, never defined)", src,
                       uses_dc && td <= 3 && !defined[0][td] ? "DC " : "AC ",
                       uses_dc && td <= 3 && !defined[0][td] ? td : ta);
        }
      }
    }
    if (m == 0xC4) {
      // As stb_image reads it: tables while the declared length lasts, each 17 bytes of header read
      // whole even past the segment's end, and bytes past the end of the file read as 0.
      int64_t remaining = static_cast<int64_t>(len) - 2;
      for (size_t t = i + 4; remaining > 0 && t < n;) {
        size_t symbols = 0;
        for (size_t k = t + 1; k <= t + 16 && k < n; ++k) symbols += d[k];
        if (symbols > 256)
          fail_input("%s: cannot decode image (corrupt JPEG Huffman table: %zu codes, expected at most 256)", src, symbols);
        const int tc = d[t] >> 4, th = d[t] & 15;  // stb_image refuses other classes and numbers itself
        if (tc <= 1 && th <= 3) defined[tc][th] = true;
        remaining -= 17 + static_cast<int64_t>(symbols);
        t += 17 + symbols;
      }
    }
    i += 2 + len;
  }
}


// Two PNG screens, found by tests/fuzz/fuzz_image. stb_image copies a PNG's first IDAT chunk into a
// buffer it has not allocated yet when that chunk is empty (memcpy(NULL, p, 0), undefined behaviour),
// and it grows its IDAT buffer to a chunk's declared length before checking that the file holds that
// many bytes (a 100-byte file declaring a 2 GB chunk allocates 2 GB, then fails). Walk the chunks as
// it reads them (length, type, data, CRC) and refuse an empty IDAT before any image data and any chunk
// longer than the rest of the file; stb_image would refuse the latter too, after the allocation.
void check_png_chunks(const uint8_t* d, size_t n, const char* src) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  if (n < 8 || std::memcmp(d, kSignature, 8) != 0) return;
  auto be32 = [&](size_t k) {  // bytes past the end read as 0, as stb_image's reader does
    uint32_t v = 0;
    for (size_t j = k; j < k + 4; ++j) v = (v << 8) | (j < n ? d[j] : 0);
    return v;
  };
  bool image_data = false;
  for (size_t i = 8; i < n;) {
    const uint32_t len = be32(i), type = be32(i + 4);
    if (type == 0x49454E44u) return;  // IEND
    if (i + 8 > n || len > n - i - 8)
      fail_input("%s: cannot decode image (PNG chunk of %u bytes at offset %zu runs past the end of the %zu-byte file)",
                 src, len, i, n);
    if (type == 0x49444154u) {  // IDAT
      if (len == 0 && !image_data)
        fail_input("%s: cannot decode image (PNG with an empty IDAT chunk before the image data)", src);
      image_data = true;
    }
    i += 12 + static_cast<size_t>(len);
  }
}


uint32_t be16(const uint8_t* p) { return static_cast<uint32_t>(p[0]) << 8 | p[1]; }
uint32_t le16(const uint8_t* p) { return static_cast<uint32_t>(p[1]) << 8 | p[0]; }
uint32_t be32(const uint8_t* p) { return be16(p) << 16 | be16(p + 2); }
uint32_t le32(const uint8_t* p) { return le16(p + 2) << 16 | le16(p); }

// The width and height a PNG, GIF, BMP or JPEG header declares (false when it is none of them or too
// short): what stb_image refuses to even identify past its side limit.
bool header_size(const uint8_t* d, size_t n, int64_t* w, int64_t* h) {
  if (n >= 24 && !std::memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return *w = be32(d + 16), *h = be32(d + 20), true;
  if (n >= 10 && !std::memcmp(d, "GIF8", 4)) return *w = le16(d + 6), *h = le16(d + 8), true;
  if (n >= 26 && d[0] == 'B' && d[1] == 'M') {
    *w = static_cast<int32_t>(le32(d + 18));
    *h = static_cast<int32_t>(le32(d + 22));
    *h = *h < 0 ? -*h : *h;  // top-down bitmaps store a negative height
    return true;
  }
  if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return false;
  for (size_t i = 2; i + 9 < n;) {  // JPEG: walk the marker segments to the first SOFn
    if (d[i] != 0xFF) return false;
    const uint8_t m = d[i + 1];
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC)
      return *h = be16(d + i + 5), *w = be16(d + i + 7), true;
    i += 2 + be16(d + i + 2);
  }
  return false;
}

// A GIF whose first frame has a transparent index: PIL's convert("RGB") shows that index's palette
// colour, while stb_image leaves the pixel transparent black. A copy with the transparency flag of the
// Graphic Control Extensions before the first image cleared decodes as PIL does; empty when there is
// nothing to clear (or the block structure is not what GIF specifies: stb reports that).
std::vector<uint8_t> gif_without_transparency(const uint8_t* d, size_t n) {
  if (n < 13 || std::memcmp(d, "GIF8", 4) != 0) return {};
  size_t pos = 13;
  if (d[10] & 0x80) pos += 3 * (size_t{2} << (d[10] & 7));  // global colour table
  std::vector<uint8_t> out;
  while (pos + 1 < n && d[pos] == 0x21) {  // extensions before the first image descriptor (0x2C)
    if (d[pos + 1] == 0xF9 && pos + 3 < n && d[pos + 2] == 4 && (d[pos + 3] & 1)) {
      if (out.empty()) out.assign(d, d + n);
      out[pos + 3] &= static_cast<uint8_t>(~1u);
    }
    pos += 2;
    while (pos < n && d[pos] != 0) pos += d[pos] + 1u;  // sub-blocks
    ++pos;
  }
  return out;
}

}  // namespace

void check_image_size(const char* src, int64_t w, int64_t h, int64_t max_pixels) {
  if (w <= 0 || h <= 0) fail_input("%s: image has zero size (%lld x %lld)", src, static_cast<long long>(w), static_cast<long long>(h));
  if (std::max(w, h) > kMaxImageSide)
    fail_input("%s: image is %lld x %lld (expected sides of at most %d pixels)", src, static_cast<long long>(w),
               static_cast<long long>(h), kMaxImageSide);
  if (w * h > max_pixels)
    fail_input("%s: image is %lld x %lld = %lld pixels (expected at most %lld)", src, static_cast<long long>(w),
               static_cast<long long>(h), static_cast<long long>(w * h), static_cast<long long>(max_pixels));
}

void cmyk_to_rgb(const uint8_t* cmyk, uint8_t* rgb) {
  const int nk = 255 - cmyk[3];
  for (int c = 0; c < 3; ++c) {
    const int t = cmyk[c] * nk + 128;
    rgb[c] = static_cast<uint8_t>(std::clamp(nk - ((t + (t >> 8)) >> 8), 0, 255));
  }
}

void missing_decoder(const std::string& source, const char* format, const char* package) {
  fail_input("%s: a %s image, but this build has no %s decoder (install %s and rebuild)", source.c_str(), format,
             format, package);
}

ImageU8 decode_image(const uint8_t* data, size_t size, const std::string& source, int64_t max_pixels) {
  const char* src = source.c_str();
  if (size == 0) fail_input("%s: empty file (expected a JPEG, PNG, BMP, GIF or PNM image)", src);
  if (size > static_cast<size_t>(INT32_MAX)) fail_input("%s: file too large (%zu bytes)", src, size);
  const int len = static_cast<int>(size);
  int64_t hw = 0, hh = 0;
  if (header_size(data, size, &hw, &hh) && std::max(hw, hh) > kMaxImageSide)  // past stb's limit: it says
    check_image_size(src, hw, hh, max_pixels);                                // "unknown image type"
  ImageU8 decoded;
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF && decode_jpeg(data, size, source, max_pixels, &decoded))
    return decoded;
  if (is_webp(data, size) && decode_webp(data, size, source, max_pixels, &decoded)) return decoded;
  if (is_tiff(data, size) && decode_tiff(data, size, source, max_pixels, &decoded)) return decoded;
  if (is_pnm(data, size)) return decode_pnm(data, size, source, max_pixels);
  if (is_rle_bmp(data, size)) return decode_rle_bmp(data, size, source, max_pixels);
  if (is_16bit_bmp(data, size)) return decode_16bit_bmp(data, size, source, max_pixels);
  const std::vector<uint8_t> gif = gif_without_transparency(data, size);
  if (!gif.empty()) return decode_image(gif.data(), gif.size(), source, max_pixels);
  check_jpeg_huffman_tables(data, size, src);
  check_png_chunks(data, size, src);
  int w = 0, h = 0, channels = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &channels)) {
    fail_input("%s: cannot decode image (%s; expected JPEG, PNG, BMP, GIF, PNM, WebP or TIFF)", src, stbi_failure_reason());
  }
  check_image_size(src, w, h, max_pixels);

  ImageU8 out;
  out.width = w;
  out.height = h;
  out.rgb.resize(static_cast<size_t>(w) * h * 3);
  const size_t n = static_cast<size_t>(w) * h;
  if (stbi_is_16_bit_from_memory(data, len) && (channels == 1 || channels == 2)) {
    // PIL opens 16-bit grey as I;16 and converts it to RGB by clipping to 255, but 16-bit grey with
    // alpha as LA/RGBA from the samples' high bytes (1000 -> 3, where I;16 gives 255).
    std::unique_ptr<uint16_t, StbFree> px(stbi_load_16_from_memory(data, len, &w, &h, &channels, 1));
    if (!px) fail_input("%s: cannot decode image (%s)", src, stbi_failure_reason());
    for (size_t i = 0; i < n; ++i) {
      const uint16_t s = px.get()[i];
      const uint8_t v = static_cast<uint8_t>(channels == 2 ? s >> 8 : std::min<uint16_t>(s, 255));
      out.rgb[3 * i] = out.rgb[3 * i + 1] = out.rgb[3 * i + 2] = v;
    }
    return out;
  }
  std::unique_ptr<uint8_t, StbFree> px(stbi_load_from_memory(data, len, &w, &h, &channels, 0));
  if (!px) fail_input("%s: cannot decode image (%s)", src, stbi_failure_reason());
  const uint8_t* p = px.get();
  for (size_t i = 0; i < n; ++i) {
    switch (channels) {
      case 1:  // L
      case 2:  // LA: alpha dropped
        out.rgb[3 * i] = out.rgb[3 * i + 1] = out.rgb[3 * i + 2] = p[i * channels];
        break;
      case 3:  // RGB
      case 4:  // RGBA: alpha dropped, as convert("RGB") does
        for (int c = 0; c < 3; ++c) out.rgb[3 * i + c] = p[i * channels + c];
        break;
      default:
        fail_input("%s: unsupported channel count %d", src, channels);
    }
  }
  return out;
}

ImageU8 load_image(const std::string& path) {
  MappedFile f(path);
  return decode_image(f.data(), f.size(), path);
}

namespace {

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for BICUBIC (a = -0.5, support 2) over the whole
// input: for each output index, the first input index and the fixed-point weights (22 fraction bits).
struct Coeffs {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> k;  // [out × ksize]
};

double bicubic(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

constexpr int kPrecisionBits = 32 - 8 - 2;

Coeffs precompute(int in_size, int out_size) {
  Coeffs c;
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 2.0 * filterscale;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.k.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = bicubic((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) w[x] /= ww;
      const double v = w[x] * (1 << kPrecisionBits);
      c.k[static_cast<size_t>(xx) * c.ksize + x] = w[x] < 0 ? static_cast<int32_t>(-0.5 + v) : static_cast<int32_t>(0.5 + v);
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

uint8_t clip8(int32_t acc) {
  int32_t v = acc >> kPrecisionBits;  // arithmetic shift, as Pillow's clip8 lookup index
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

}  // namespace

namespace {

// An image placed on a larger canvas filled with one grey level (expand2square without allocating
// the canvas): canvas pixel (x, y) is im(x - x0, y - y0) inside the image, else `fill`.
struct Canvas {
  const ImageU8& im;
  int width, height, x0, y0;
  uint8_t fill;
  bool row_in_image(int y) const { return y >= y0 && y < y0 + im.height; }
};

// Pillow's two-pass resize of a canvas (see resize_bicubic). Rows of pure padding take a shortcut:
// their horizontal pass is the same for every such row, so it is computed once.
ImageU8 resize_canvas(const Canvas& cv, int out_w, int out_h) {
  if (out_w == cv.width && out_h == cv.height && cv.width == cv.im.width && cv.height == cv.im.height) return cv.im;
  const Coeffs vert = precompute(cv.height, out_h);
  // Only the canvas rows the vertical pass reads go through the horizontal pass (Pillow's ybox).
  const int y_first = vert.first[0];
  const int y_last = vert.first[out_h - 1] + vert.count[out_h - 1];
  const bool horizontal = out_w != cv.width;
  const Coeffs hor = horizontal ? precompute(cv.width, out_w) : Coeffs{};
  const int mid_w = horizontal ? out_w : cv.width;
  const size_t mid_stride = static_cast<size_t>(mid_w) * 3;

  // Horizontal taps that fall on the padding all read `fill`: sum their weights once per output column
  // and loop only over the taps inside the image (a 57 × 11008 image padded to 11008² has 57 of them,
  // not 1469). Integer sums, so the result is the same as Pillow's tap-by-tap loop.
  std::vector<int64_t> pad_weight(horizontal ? out_w : 0);
  std::vector<int> in_first(horizontal ? out_w : 0), in_last(horizontal ? out_w : 0);
  for (int xx = 0; horizontal && xx < out_w; ++xx) {
    const int32_t* k = &hor.k[static_cast<size_t>(xx) * hor.ksize];
    in_first[xx] = std::max(hor.first[xx], cv.x0);
    in_last[xx] = std::min(hor.first[xx] + hor.count[xx], cv.x0 + cv.im.width);
    for (int x = 0; x < hor.count[xx]; ++x) {
      const int cx = hor.first[xx] + x;
      if (cx < cv.x0 || cx >= cv.x0 + cv.im.width) pad_weight[xx] += k[x];
    }
  }

  // One canvas row, horizontally resampled (or copied) into `out`.
  auto row_pass = [&](int y, uint8_t* out) {
    const bool inside = cv.row_in_image(y);
    const uint8_t* src = inside ? &cv.im.rgb[static_cast<size_t>(y - cv.y0) * cv.im.width * 3] : nullptr;
    if (!horizontal) {
      for (int x = 0; x < mid_w; ++x)
        for (int c = 0; c < 3; ++c)
          out[x * 3 + c] = inside && x >= cv.x0 && x < cv.x0 + cv.im.width ? src[(x - cv.x0) * 3 + c] : cv.fill;
      return;
    }
    for (int xx = 0; xx < out_w; ++xx) {
      const int32_t* k = &hor.k[static_cast<size_t>(xx) * hor.ksize] - hor.first[xx];  // indexed by canvas x
      for (int c = 0; c < 3; ++c) {
        int64_t acc = (1 << (kPrecisionBits - 1)) + (inside ? cv.fill * pad_weight[xx] : 0);
        if (inside) {
          for (int x = in_first[xx]; x < in_last[xx]; ++x) acc += src[(x - cv.x0) * 3 + c] * k[x];
        } else {
          for (int x = 0; x < hor.count[xx]; ++x) acc += cv.fill * k[hor.first[xx] + x];
        }
        out[xx * 3 + c] = clip8(static_cast<int32_t>(acc));
      }
    }
  };

  ImageU8 mid;
  mid.width = mid_w;
  mid.height = y_last - y_first;
  mid.rgb.resize(mid_stride * mid.height);
  std::vector<uint8_t> fill_row;
  for (int y = y_first; y < y_last; ++y) {
    uint8_t* out = &mid.rgb[static_cast<size_t>(y - y_first) * mid_stride];
    if (cv.row_in_image(y)) {
      row_pass(y, out);
      continue;
    }
    if (fill_row.empty()) {
      fill_row.resize(mid_stride);
      row_pass(y, fill_row.data());
    }
    std::copy(fill_row.begin(), fill_row.end(), out);
  }
  if (out_h == cv.height) return mid;

  ImageU8 out;
  out.width = mid_w;
  out.height = out_h;
  out.rgb.resize(mid_stride * out_h);
  for (int yy = 0; yy < out_h; ++yy) {
    const int32_t* k = &vert.k[static_cast<size_t>(yy) * vert.ksize];
    const int y0 = vert.first[yy] - y_first;
    for (size_t i = 0; i < mid_stride; ++i) {
      int32_t acc = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < vert.count[yy]; ++y) acc += mid.rgb[(y0 + y) * mid_stride + i] * k[y];
      out.rgb[yy * mid_stride + i] = clip8(acc);
    }
  }
  return out;
}

// expand2square's placement: centred along the short side, (w - h) // 2 or (h - w) // 2.
Canvas square_canvas(const ImageU8& im, uint8_t fill) {
  const int side = std::max(im.width, im.height);
  return Canvas{im, side, side, (side - im.width) / 2, (side - im.height) / 2, fill};
}

}  // namespace

ImageU8 pad_to_square(const ImageU8& im, uint8_t fill) {
  const Canvas cv = square_canvas(im, fill);
  return resize_canvas(cv, cv.width, cv.height);
}

ImageU8 resize_bicubic(const ImageU8& im, int out_w, int out_h) {
  TL_CHECK(out_w > 0 && out_h > 0 && im.width > 0 && im.height > 0);
  return resize_canvas(Canvas{im, im.width, im.height, 0, 0, 0}, out_w, out_h);
}

float normalize_level(uint8_t u8) {
  const float v = static_cast<float>(static_cast<double>(u8) * 0.00392156862745098);
  return (v - 0.5f) / 0.5f;
}

OwnedTensor preprocess_image(const ImageU8& im, const VlmConfig& config) {
  const int S = config.vision.image_size;
  // 'pad' resizes the image on its square canvas without building the canvas (which could be 16384²).
  ImageU8 sized = config.image_aspect_ratio == "pad" ? resize_canvas(square_canvas(im, 127), S, S) : resize_bicubic(im, S, S);
  OwnedTensor t = OwnedTensor::empty(DType::F32, {3, S, S});
  float lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = normalize_level(static_cast<uint8_t>(v));
  float* p = t.tensor.ptr<float>();
  const size_t plane = static_cast<size_t>(S) * S;
  for (size_t i = 0; i < plane; ++i)
    for (int c = 0; c < 3; ++c) p[c * plane + i] = lut[sized.rgb[3 * i + c]];
  return t;
}

}  // namespace tl
