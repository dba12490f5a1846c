// model/image.cpp — decode, RGB conversion, pad, Pillow-exact bicubic resize, normalization
// (contract in image.h).
#include "model/image.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include <stb/stb_image.h>

#include "tensor/error.h"
#include "weights/file.h"

namespace tl {

namespace {

struct StbFree {
  void operator()(void* p) const { stbi_image_free(p); }
};

}  // namespace

ImageU8 decode_image(const uint8_t* data, size_t size, const std::string& source) {
  const char* src = source.c_str();
  if (size == 0) fail_input("%s: empty file (expected a JPEG, PNG, BMP, GIF or PNM image)", src);
  if (size > static_cast<size_t>(INT32_MAX)) fail_input("%s: file too large (%zu bytes)", src, size);
  const int len = static_cast<int>(size);
  int w = 0, h = 0, channels = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &channels))
    fail_input("%s: cannot decode image (%s; expected JPEG, PNG, BMP, GIF or PNM)", src, stbi_failure_reason());
  if (w <= 0 || h <= 0) fail_input("%s: image has zero size (%d x %d)", src, w, h);
  if (static_cast<int64_t>(w) * h > kMaxImagePixels)
    fail_input("%s: image is %d x %d = %lld pixels (expected at most %lld)", src, w, h,
               static_cast<long long>(w) * h, static_cast<long long>(kMaxImagePixels));

  ImageU8 out;
  out.width = w;
  out.height = h;
  out.rgb.resize(static_cast<size_t>(w) * h * 3);
  const size_t n = static_cast<size_t>(w) * h;
  if (stbi_is_16_bit_from_memory(data, len) && (channels == 1 || channels == 2)) {
    // PIL opens 16-bit grey as I;16 and converts to RGB by clipping to 255 (not by taking the high byte).
    std::unique_ptr<uint16_t, StbFree> px(stbi_load_16_from_memory(data, len, &w, &h, &channels, 1));
    if (!px) fail_input("%s: cannot decode image (%s)", src, stbi_failure_reason());
    for (size_t i = 0; i < n; ++i) {
      uint8_t v = static_cast<uint8_t>(std::min<uint16_t>(px.get()[i], 255));
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

ImageU8 pad_to_square(const ImageU8& im, uint8_t fill) {
  if (im.width == im.height) return im;
  const int side = std::max(im.width, im.height);
  ImageU8 out;
  out.width = out.height = side;
  out.rgb.assign(static_cast<size_t>(side) * side * 3, fill);
  // expand2square pastes at (0, (w - h) // 2) for wide images, ((h - w) // 2, 0) for tall ones.
  const int x0 = im.width < side ? (side - im.width) / 2 : 0;
  const int y0 = im.height < side ? (side - im.height) / 2 : 0;
  for (int y = 0; y < im.height; ++y)
    std::copy_n(&im.rgb[static_cast<size_t>(y) * im.width * 3], im.width * 3,
                &out.rgb[(static_cast<size_t>(y + y0) * side + x0) * 3]);
  return out;
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

ImageU8 resize_bicubic(const ImageU8& im, int out_w, int out_h) {
  TL_CHECK(out_w > 0 && out_h > 0 && im.width > 0 && im.height > 0);
  if (out_w == im.width && out_h == im.height) return im;  // Pillow returns a copy
  const Coeffs vert = precompute(im.height, out_h);
  // Only the input rows the vertical pass reads go through the horizontal pass (Pillow's ybox).
  const int y_first = vert.first[0];
  const int y_last = vert.first[out_h - 1] + vert.count[out_h - 1];

  ImageU8 tmp;
  const ImageU8* src = &im;
  int row_offset = 0;  // input row of src's first row
  if (out_w != im.width) {
    const Coeffs hor = precompute(im.width, out_w);
    tmp.width = out_w;
    tmp.height = y_last - y_first;
    tmp.rgb.resize(static_cast<size_t>(tmp.width) * tmp.height * 3);
    for (int y = 0; y < tmp.height; ++y) {
      const uint8_t* in = &im.rgb[static_cast<size_t>(y + y_first) * im.width * 3];
      uint8_t* out = &tmp.rgb[static_cast<size_t>(y) * out_w * 3];
      for (int xx = 0; xx < out_w; ++xx) {
        const int32_t* k = &hor.k[static_cast<size_t>(xx) * hor.ksize];
        for (int c = 0; c < 3; ++c) {
          int32_t acc = 1 << (kPrecisionBits - 1);
          for (int x = 0; x < hor.count[xx]; ++x) acc += in[(hor.first[xx] + x) * 3 + c] * k[x];
          out[xx * 3 + c] = clip8(acc);
        }
      }
    }
    src = &tmp;
    row_offset = y_first;
  }
  if (out_h == im.height) return *src;

  ImageU8 out;
  out.width = src->width;
  out.height = out_h;
  out.rgb.resize(static_cast<size_t>(out.width) * out_h * 3);
  const size_t stride = static_cast<size_t>(src->width) * 3;
  for (int yy = 0; yy < out_h; ++yy) {
    const int32_t* k = &vert.k[static_cast<size_t>(yy) * vert.ksize];
    const int y0 = vert.first[yy] - row_offset;
    for (size_t i = 0; i < stride; ++i) {
      int32_t acc = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < vert.count[yy]; ++y) acc += src->rgb[(y0 + y) * stride + i] * k[y];
      out.rgb[yy * stride + i] = clip8(acc);
    }
  }
  return out;
}

float normalize_level(uint8_t u8) {
  const float v = static_cast<float>(static_cast<double>(u8) * 0.00392156862745098);
  return (v - 0.5f) / 0.5f;
}

OwnedTensor preprocess_image(const ImageU8& im, const VlmConfig& config) {
  const int S = config.vision.image_size;
  ImageU8 sized = resize_bicubic(config.image_aspect_ratio == "pad" ? pad_to_square(im) : im, S, S);
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
