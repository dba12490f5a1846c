// model/image_tiff.cpp — TIFF through libtiff, the library PIL uses for it (contract in
// image_codecs.h). Strips or tiles, any compression libtiff decodes (none, LZW, Deflate, PackBits, …),
// read as samples and converted as PIL's convert("RGB") does:
//   RGB (+ alpha)        the first three samples (alpha dropped)
//   grey (+ alpha)       8-bit repeated in R, G, B; min-is-white inverted; 1-bit 0/255; 16-bit clipped to
//                        255 (PIL's I;16)
//   palette              the colour map's high bytes (PIL: value // 256)
//   CMYK (separated)     Pillow's cmyk2rgb, not inverted (TIFF stores ink amounts)
// Anything else (planar samples, YCbCr, other bit depths) goes through TIFFReadRGBAImage: decoded,
// though not checked against PIL. Only the first directory (page) is read.
#include "model/image_codecs.h"

#if TL_HAVE_LIBTIFF
#include <tiffio.h>
#endif

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "tensor/error.h"

namespace tl {

bool is_tiff(const uint8_t* d, size_t n) {
  return n >= 4 && ((d[0] == 'I' && d[1] == 'I' && (d[2] == 42 || d[2] == 43) && d[3] == 0) ||
                    (d[0] == 'M' && d[1] == 'M' && d[2] == 0 && (d[3] == 42 || d[3] == 43)));
}

#if TL_HAVE_LIBTIFF

namespace {

struct Memory {
  const uint8_t* data;
  toff_t size, pos = 0;
  std::string error;  // libtiff's first error message
};

tmsize_t mem_read(thandle_t h, void* buf, tmsize_t n) {
  Memory* m = static_cast<Memory*>(h);
  const toff_t left = m->pos < m->size ? m->size - m->pos : 0;
  const tmsize_t k = static_cast<tmsize_t>(std::min<toff_t>(left, static_cast<toff_t>(n)));
  std::memcpy(buf, m->data + m->pos, static_cast<size_t>(k));
  m->pos += static_cast<toff_t>(k);
  return k;
}
tmsize_t mem_write(thandle_t, void*, tmsize_t) { return -1; }
toff_t mem_seek(thandle_t h, toff_t off, int whence) {
  Memory* m = static_cast<Memory*>(h);
  const toff_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->size;
  m->pos = base + off;
  return m->pos;
}
int mem_close(thandle_t) { return 0; }
toff_t mem_size(thandle_t h) { return static_cast<Memory*>(h)->size; }

int on_error(TIFF*, void* user, const char*, const char* fmt, va_list ap) {
  Memory* m = static_cast<Memory*>(user);
  if (m->error.empty()) {
    char buf[512];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    m->error = buf;
  }
  return 1;
}
int on_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }  // PIL ignores them too

struct Layout {
  uint32_t w = 0, h = 0;
  uint16_t spp = 1, bps = 1, photometric = 0, planar = PLANARCONFIG_CONTIG;
};

// Every sample of the image, rows of w·spp samples of bps bits (rows padded to whole bytes), from its
// strips or tiles. False when libtiff reports an error.
bool read_samples(TIFF* t, const Layout& L, std::vector<uint8_t>& px, size_t row_bytes) {
  px.assign(row_bytes * L.h, 0);
  if (TIFFIsTiled(t)) {
    uint32_t tw = 0, th = 0;
    TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
    const tmsize_t tile_size = TIFFTileSize(t);
    if (tw == 0 || th == 0 || tw > kMaxImageSide || th > kMaxImageSide || tile_size <= 0 || tile_size > (tmsize_t{1} << 28))
      return false;
    std::vector<uint8_t> tile(static_cast<size_t>(tile_size));
    const size_t tile_row = static_cast<size_t>(TIFFTileRowSize(t));
    for (uint32_t y = 0; y < L.h; y += th)
      for (uint32_t x = 0; x < L.w; x += tw) {
        if (TIFFReadEncodedTile(t, TIFFComputeTile(t, x, y, 0, 0), tile.data(), tile_size) < 0) return false;
        const size_t x_bytes = static_cast<size_t>(x) * L.spp * L.bps / 8;
        const size_t n = std::min(tile_row, row_bytes - x_bytes);
        for (uint32_t r = 0; r < th && y + r < L.h; ++r)
          std::memcpy(&px[(y + r) * row_bytes + x_bytes], &tile[r * tile_row], n);
      }
    return true;
  }
  uint32_t rows_per_strip = L.h;
  TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rows_per_strip);
  rows_per_strip = std::max<uint32_t>(1, std::min(rows_per_strip, L.h));
  for (uint32_t y = 0; y < L.h; y += rows_per_strip) {
    const uint32_t rows = std::min(rows_per_strip, L.h - y);
    if (TIFFReadEncodedStrip(t, TIFFComputeStrip(t, y, 0), &px[y * row_bytes], static_cast<tmsize_t>(rows * row_bytes)) < 0)
      return false;
  }
  return true;
}

// Samples of one pixel (8-bit contiguous layouts) to RGB, as PIL's convert("RGB").
bool convert_pixels(TIFF* t, const Layout& L, const std::vector<uint8_t>& px, size_t row_bytes, ImageU8& out) {
  uint16_t* cmap[3] = {};
  const bool palette = L.photometric == PHOTOMETRIC_PALETTE &&
                       TIFFGetField(t, TIFFTAG_COLORMAP, &cmap[0], &cmap[1], &cmap[2]) && (L.bps == 8 || L.bps == 4);
  for (uint32_t y = 0; y < L.h; ++y) {
    const uint8_t* r = &px[y * row_bytes];
    uint8_t* o = &out.rgb[static_cast<size_t>(y) * L.w * 3];
    for (uint32_t x = 0; x < L.w; ++x, o += 3) {
      if (palette) {
        const int i = L.bps == 8 ? r[x] : (r[x / 2] >> (x % 2 ? 0 : 4)) & 15;
        for (int c = 0; c < 3; ++c) o[c] = static_cast<uint8_t>(cmap[c][i] >> 8);
      } else if (L.photometric == PHOTOMETRIC_RGB && L.bps == 8 && L.spp >= 3) {
        std::memcpy(o, r + static_cast<size_t>(x) * L.spp, 3);
      } else if (L.photometric == PHOTOMETRIC_SEPARATED && L.bps == 8 && L.spp >= 4) {
        cmyk_to_rgb(r + static_cast<size_t>(x) * L.spp, o);
      } else if (L.photometric <= PHOTOMETRIC_MINISBLACK && (L.bps == 8 || L.bps == 1 || L.bps == 16)) {
        int v = L.bps == 8    ? r[static_cast<size_t>(x) * L.spp]
                : L.bps == 1  ? ((r[x / 8] >> (7 - x % 8)) & 1) * 255
                              : std::min(255, static_cast<int>(reinterpret_cast<const uint16_t*>(r)[static_cast<size_t>(x) * L.spp]));
        if (L.photometric == PHOTOMETRIC_MINISWHITE) v = 255 - v;
        o[0] = o[1] = o[2] = static_cast<uint8_t>(v);
      } else {
        return false;
      }
    }
  }
  return true;
}

// TIFFReadRGBAImage for the layouts convert_pixels does not read.
bool rgba_fallback(TIFF* t, const Layout& L, ImageU8& out) {
  std::vector<uint32_t> raster(static_cast<size_t>(L.w) * L.h);
  if (!TIFFReadRGBAImageOriented(t, L.w, L.h, raster.data(), ORIENTATION_TOPLEFT, 0)) return false;
  for (size_t i = 0; i < raster.size(); ++i) {
    out.rgb[3 * i] = static_cast<uint8_t>(TIFFGetR(raster[i]));
    out.rgb[3 * i + 1] = static_cast<uint8_t>(TIFFGetG(raster[i]));
    out.rgb[3 * i + 2] = static_cast<uint8_t>(TIFFGetB(raster[i]));
  }
  return true;
}

Layout read_layout(TIFF* t, const char* src, int64_t max_pixels) {
  Layout L;
  TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &L.w);
  TIFFGetField(t, TIFFTAG_IMAGELENGTH, &L.h);
  TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &L.spp);
  TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &L.bps);
  TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &L.planar);
  if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &L.photometric)) L.photometric = PHOTOMETRIC_MINISBLACK;
  check_image_size(src, L.w, L.h, max_pixels);
  return L;
}

}  // namespace

const char* tiff_decoder() { return "libtiff"; }

bool decode_tiff(const uint8_t* data, size_t size, const std::string& source, int64_t max_pixels, ImageU8* out) {
  const char* src = source.c_str();
  Memory m{data, static_cast<toff_t>(size), 0, {}};
  TIFFOpenOptions* opts = TIFFOpenOptionsAlloc();
  TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, &m);
  TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, &m);
  TIFF* t = TIFFClientOpenExt(src, "rm", &m, mem_read, mem_write, mem_seek, mem_close, mem_size, nullptr, nullptr, opts);
  TIFFOpenOptionsFree(opts);
  if (!t) fail_input("%s: cannot decode image (TIFF: %s)", src, m.error.empty() ? "not readable" : m.error.c_str());
  std::unique_ptr<TIFF, void (*)(TIFF*)> guard(t, TIFFClose);
  const Layout L = read_layout(t, src, max_pixels);
  out->width = static_cast<int>(L.w);
  out->height = static_cast<int>(L.h);
  out->rgb.assign(static_cast<size_t>(L.w) * L.h * 3, 0);
  const size_t row_bytes = (static_cast<size_t>(L.w) * L.spp * L.bps + 7) / 8;
  std::vector<uint8_t> px;
  // Samples read directly only for the layouts convert_pixels knows (at most 5 samples of 1, 4, 8 or 16
  // bits: the buffer is then at most 10 bytes a pixel, whatever the header claims).
  const bool contiguous = L.planar == PLANARCONFIG_CONTIG && L.photometric != PHOTOMETRIC_YCBCR && L.spp >= 1 &&
                          L.spp <= 5 && (L.bps == 1 || L.bps == 4 || L.bps == 8 || L.bps == 16);
  if (contiguous && !read_samples(t, L, px, row_bytes))
    fail_input("%s: cannot decode image (TIFF: %s)", src, m.error.empty() ? "bad strip or tile" : m.error.c_str());
  if (contiguous && convert_pixels(t, L, px, row_bytes, *out)) return true;
  if (!rgba_fallback(t, L, *out))
    fail_input("%s: cannot decode image (TIFF: %s)", src, m.error.empty() ? "unsupported layout" : m.error.c_str());
  return true;
}

#else

const char* tiff_decoder() { return "none (build without libtiff)"; }
bool decode_tiff(const uint8_t*, size_t, const std::string& source, int64_t, ImageU8*) {
  missing_decoder(source, "TIFF", "libtiff-dev");
}

#endif

}  // namespace tl
