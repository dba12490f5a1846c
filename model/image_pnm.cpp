// model/image_pnm.cpp — PNM (P1-P6), run-length and 16-bit BMP: the inputs stb_image does not read, or
// reads otherwise than Pillow, decoded as Pillow does (contract in image_codecs.h).
//
// PNM: plain (ASCII, with '#' comments anywhere) and raw; any maxval up to 65535.
//   P1/P4 (bitmap)   1 is black: 0 or 255 in R, G, B
//   P2/P5 (grey)     maxval <= 255: L = round(v·255 / maxval); above: I = round(v·65535 / maxval), which
//                    convert("RGB") clips to 255
//   P3/P6 (colour)   each sample round(v·255 / maxval)
// Rounding is half to even, as Pillow's scaling rounds (v = 1 of maxval 6 gives 42, 3 gives 128).
//
// BMP with BI_RLE8 / BI_RLE4 compression (bottom-up rows): runs, absolute runs, end of line, delta and
// end of bitmap; pixels the stream never writes keep palette entry 0 (Pillow's zeroed image).
// 16-bit BMP (BI_RGB: 5-5-5; BI_BITFIELDS: its masks, e.g. 5-6-5): each field f of n bits becomes
// f·255 // (2^n - 1), Pillow's floor (stb_image replicates bits instead: up to 1 level off).
#include <algorithm>
#include <cstring>

#include "model/image_codecs.h"
#include "tensor/error.h"

namespace tl {

namespace {

// round(v·scale / maxval), half to even, in integers.
inline int scaled(int v, int maxval, int scale) {
  v = std::min(v, maxval);
  const int64_t num = static_cast<int64_t>(v) * scale, q = num / maxval, r = num % maxval;
  return static_cast<int>(2 * r > maxval || (2 * r == maxval && (q & 1)) ? q + 1 : q);
}

class PnmReader {
 public:
  PnmReader(const uint8_t* d, size_t n, const char* src) : d_(d), n_(n), src_(src) {}

  // The next decimal number (header or plain data), skipping whitespace and comments.
  int number(int max_value, const char* what) {
    skip_space();
    if (pos_ >= n_ || d_[pos_] < '0' || d_[pos_] > '9') fail_input("%s: PNM %s: expected a number", src_, what);
    int64_t v = 0;
    while (pos_ < n_ && d_[pos_] >= '0' && d_[pos_] <= '9') {
      v = v * 10 + (d_[pos_++] - '0');
      if (v > max_value) fail_input("%s: PNM %s: a number above %d", src_, what, max_value);
    }
    return static_cast<int>(v);
  }
  // P1's next bit: a '0' or '1', not necessarily separated by whitespace.
  int bit() {
    skip_space();
    if (pos_ >= n_ || (d_[pos_] != '0' && d_[pos_] != '1')) fail_input("%s: PNM bitmap: expected 0 or 1", src_);
    return d_[pos_++] - '0';
  }
  // Raw data starts after exactly one whitespace character following the header.
  const uint8_t* raw(size_t bytes) {
    const size_t at = pos_ + 1;
    if (at > n_ || n_ - at < bytes) fail_input("%s: PNM data: %zu bytes expected, the file has %zu", src_, bytes, at <= n_ ? n_ - at : 0);
    return d_ + at;
  }

 private:
  void skip_space() {
    while (pos_ < n_) {
      if (d_[pos_] == '#') {
        while (pos_ < n_ && d_[pos_] != '\n' && d_[pos_] != '\r') ++pos_;
      } else if (d_[pos_] == ' ' || d_[pos_] == '\t' || d_[pos_] == '\n' || d_[pos_] == '\r' || d_[pos_] == '\v' ||
                 d_[pos_] == '\f') {
        ++pos_;
      } else {
        return;
      }
    }
  }
  const uint8_t* d_;
  size_t n_, pos_ = 2;
  const char* src_;
};

// Sample i of a raw P4/P5/P6 stream.
int raw_sample(const uint8_t* p, int64_t i, bool wide) {
  return wide ? (p[2 * i] << 8 | p[2 * i + 1]) : p[i];
}

}  // namespace

bool is_pnm(const uint8_t* d, size_t n) { return n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6'; }

ImageU8 decode_pnm(const uint8_t* data, size_t size, const std::string& source, int64_t max_pixels) {
  const char* src = source.c_str();
  const int kind = data[1] - '0';
  PnmReader r(data, size, src);
  const int w = r.number(1 << 30, "header number (width)"), h = r.number(1 << 30, "header number (height)");
  check_image_size(src, w, h, max_pixels);
  const bool bitmap = kind == 1 || kind == 4, colour = kind == 3 || kind == 6, plain = kind <= 3;
  const int maxval = bitmap ? 1 : r.number(65535, "header number (maxval)");
  if (maxval == 0) fail_input("%s: PNM maxval is 0 (expected 1 to 65535)", src);
  ImageU8 out;
  out.width = w;
  out.height = h;
  out.rgb.resize(static_cast<size_t>(w) * h * 3);
  const int64_t pixels = static_cast<int64_t>(w) * h, channels = colour ? 3 : 1;
  const bool wide = maxval > 255;
  const uint8_t* raw = nullptr;
  if (!plain)
    raw = r.raw(kind == 4 ? static_cast<size_t>((w + 7) / 8) * h : static_cast<size_t>(pixels * channels * (wide ? 2 : 1)));
  for (int64_t i = 0; i < pixels; ++i) {
    uint8_t* o = &out.rgb[3 * i];
    if (bitmap) {
      const int black = plain ? r.bit() : (raw[(i / w) * ((w + 7) / 8) + (i % w) / 8] >> (7 - (i % w) % 8)) & 1;
      o[0] = o[1] = o[2] = black ? 0 : 255;
    } else if (colour) {
      for (int c = 0; c < 3; ++c)
        o[c] = static_cast<uint8_t>(scaled(plain ? r.number(65535, "sample") : raw_sample(raw, 3 * i + c, wide), maxval, 255));
    } else {
      const int v = plain ? r.number(65535, "sample") : raw_sample(raw, i, wide);
      o[0] = o[1] = o[2] = static_cast<uint8_t>(wide ? std::min(255, scaled(v, maxval, 65535)) : scaled(v, maxval, 255));
    }
  }
  return out;
}

namespace {

uint32_t le32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24; }

// Palette indices of a BI_RLE8 (bits 8) or BI_RLE4 (bits 4) stream, rows bottom-up as stored.
void rle_indices(const uint8_t* s, size_t n, int bits, int w, int h, std::vector<uint8_t>& idx, const char* src) {
  int x = 0, y = 0;
  auto put = [&](int v) {  // past the row's end nothing is written and x stays at w
    if (x >= w) return;
    if (y < h) idx[static_cast<size_t>(h - 1 - y) * w + x] = static_cast<uint8_t>(v);
    ++x;
  };
  for (size_t i = 0; i + 1 < n;) {
    const int count = s[i], value = s[i + 1];
    i += 2;
    if (count > 0) {  // a run: the value (RLE4: its two nibbles, alternating)
      for (int k = 0; k < count; ++k) put(bits == 8 ? value : (k % 2 ? value & 15 : value >> 4));
    } else if (value == 0) {  // end of line
      x = 0;
      ++y;
    } else if (value == 1) {  // end of bitmap
      return;
    } else if (value == 2) {  // delta
      if (i + 1 >= n) break;
      x = std::min(w, x + s[i]);
      y += s[i + 1];
      i += 2;
    } else {  // `value` literal pixels, padded to a 16-bit boundary
      const size_t bytes = bits == 8 ? static_cast<size_t>(value) : (static_cast<size_t>(value) + 1) / 2;
      if (i + bytes > n) fail_input("%s: cannot decode image (BMP run-length data ends inside a literal run)", src);
      for (int k = 0; k < value; ++k) put(bits == 8 ? s[i + k] : (k % 2 ? s[i + k / 2] & 15 : s[i + k / 2] >> 4));
      i += bytes + (bytes & 1);
    }
    if (y >= h) return;
  }
}

}  // namespace

bool is_rle_bmp(const uint8_t* d, size_t n) {
  if (n < 54 || d[0] != 'B' || d[1] != 'M' || le32(d + 14) < 40) return false;
  const uint32_t compression = le32(d + 30);
  return compression == 1 || compression == 2;
}

bool is_16bit_bmp(const uint8_t* d, size_t n) {
  if (n < 54 || d[0] != 'B' || d[1] != 'M' || le32(d + 14) < 40) return false;
  const uint32_t compression = le32(d + 30);
  return (d[28] | d[29] << 8) == 16 && (compression == 0 || compression == 3);
}

ImageU8 decode_16bit_bmp(const uint8_t* d, size_t n, const std::string& source, int64_t max_pixels) {
  const char* src = source.c_str();
  const int32_t w = static_cast<int32_t>(le32(d + 18)), hs = static_cast<int32_t>(le32(d + 22));
  const int32_t h = hs < 0 ? -hs : hs;
  check_image_size(src, w, h, max_pixels);
  uint32_t mask[3] = {0x7C00, 0x03E0, 0x001F};
  if (le32(d + 30) == 3) {
    if (n < 66) fail_input("%s: cannot decode image (BMP: the bit-field masks run past the end of the file)", src);
    for (int c = 0; c < 3; ++c) mask[c] = le32(d + 54 + 4 * c);
  }
  int shift[3], bits[3];
  for (int c = 0; c < 3; ++c) {
    if (mask[c] == 0 || mask[c] > 0xFFFF) fail_input("%s: cannot decode image (BMP: bit-field mask %#x)", src, mask[c]);
    shift[c] = __builtin_ctz(mask[c]);
    bits[c] = __builtin_popcount(mask[c]);
  }
  const size_t row = (static_cast<size_t>(w) * 2 + 3) / 4 * 4, offset = le32(d + 10);
  if (offset > n || (n - offset) / row < static_cast<size_t>(h))
    fail_input("%s: cannot decode image (BMP: %d rows of %zu bytes expected, the file is shorter)", src, h, row);
  ImageU8 out;
  out.width = w;
  out.height = h;
  out.rgb.resize(static_cast<size_t>(w) * h * 3);
  for (int32_t y = 0; y < h; ++y) {
    const uint8_t* r = d + offset + row * static_cast<size_t>(hs < 0 ? y : h - 1 - y);
    for (int32_t x = 0; x < w; ++x) {
      const uint32_t v = r[2 * x] | r[2 * x + 1] << 8;
      for (int c = 0; c < 3; ++c) {
        const uint32_t f = (v & mask[c]) >> shift[c], top = (1u << bits[c]) - 1;
        out.rgb[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<uint8_t>(f * 255 / top);
      }
    }
  }
  return out;
}

ImageU8 decode_rle_bmp(const uint8_t* d, size_t n, const std::string& source, int64_t max_pixels) {
  const char* src = source.c_str();
  const int32_t w = static_cast<int32_t>(le32(d + 18)), h = static_cast<int32_t>(le32(d + 22));
  const int bits = d[28] | d[29] << 8, compression = static_cast<int>(le32(d + 30));
  if ((compression == 1 && bits != 8) || (compression == 2 && bits != 4))
    fail_input("%s: cannot decode image (BMP: run-length compression %d with %d bits per pixel)", src, compression, bits);
  if (h < 0) fail_input("%s: cannot decode image (BMP: a top-down run-length bitmap)", src);
  check_image_size(src, w, h, max_pixels);
  const uint32_t header = le32(d + 14), offset = le32(d + 10), used = le32(d + 46);
  const uint32_t colours = used ? std::min<uint32_t>(used, 1u << bits) : 1u << bits;
  if (14 + static_cast<size_t>(header) + 4 * colours > n || offset > n)
    fail_input("%s: cannot decode image (BMP: the palette or the data run past the end of the file)", src);
  const uint8_t* pal = d + 14 + header;
  std::vector<uint8_t> idx(static_cast<size_t>(w) * h, 0);
  rle_indices(d + offset, n - offset, bits, w, h, idx, src);
  ImageU8 out;
  out.width = w;
  out.height = h;
  out.rgb.resize(idx.size() * 3);
  for (size_t i = 0; i < idx.size(); ++i) {
    const uint8_t* c = idx[i] < colours ? pal + 4 * idx[i] : pal;  // BGRx
    out.rgb[3 * i] = c[2];
    out.rgb[3 * i + 1] = c[1];
    out.rgb[3 * i + 2] = c[0];
  }
  return out;
}

}  // namespace tl
