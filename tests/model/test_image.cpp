// tests/model/test_image.cpp — image decoding and preprocessing against PIL (tests/fixtures/images/,
// made by tools/make_image_fixtures.py): convert("RGB") for every documented mode and format, the
// BICUBIC resize for up-, down- and mixed scaling, the rescale/normalize formula, pad-to-square; the
// stb_image-vs-libjpeg JPEG difference measured (and bounded); bad images refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <cstdio>
#include <string>
#include <vector>

#include "model/image.h"
#include "model/image_codecs.h"
#include "tensor/error.h"
#include "test_util.h"

using namespace tl;

namespace {

const std::string kImages = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/images/";

uint64_t content_hash_fnv(const std::vector<uint8_t>& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : bytes) h = (h ^ b) * 1099511628211ull;
  return h;
}

struct Diff {
  size_t exact = 0, total = 0;
  int max = 0;
  double mean = 0;
};

Diff compare(const ImageU8& got, const ImageU8& want) {
  Diff d;
  EXPECT_EQ(got.width, want.width);
  EXPECT_EQ(got.height, want.height);
  if (got.rgb.size() != want.rgb.size()) return d;
  double sum = 0;
  for (size_t i = 0; i < want.rgb.size(); ++i) {
    int e = std::abs(static_cast<int>(got.rgb[i]) - want.rgb[i]);
    d.exact += e == 0;
    d.max = std::max(d.max, e);
    sum += e;
  }
  d.total = want.rgb.size();
  d.mean = sum / d.total;
  return d;
}

const char* kSources[] = {"src_rgb.png", "src_l.png", "src_la.png", "src_rgba.png", "src_p.png", "src_ptrns.png",
                          "src_l16.png", "src_rgb16.png", "src_rgb.bmp", "src_rgb.ppm", "src_p.gif"};

}  // namespace

TEST(Image, DecodeAndConvertRgbMatchPilExactly) {
  for (const char* name : kSources) {
    ImageU8 got = load_image(kImages + name);
    ImageU8 want = load_image(kImages + name + ".rgb.png");
    Diff d = compare(got, want);
    EXPECT_EQ(d.exact, d.total) << name << ": max diff " << d.max;
  }
}

TEST(Image, BicubicResizeMatchesPil) {
  const int sizes[][2] = {{64, 64}, {24, 24}, {100, 31}};
  for (const char* name : kSources) {
    ImageU8 src = load_image(kImages + std::string(name) + ".rgb.png");
    for (const auto& s : sizes) {
      ImageU8 want = load_image(kImages + name + "." + std::to_string(s[0]) + "x" + std::to_string(s[1]) + ".png");
      Diff d = compare(resize_bicubic(src, s[0], s[1]), want);
      // The bound is >= 99 % exact and nothing off by more than one level; we are bit-exact.
      EXPECT_EQ(d.exact, d.total) << name << " -> " << s[0] << "x" << s[1] << ": max diff " << d.max;
      EXPECT_LE(d.max, 1);
    }
  }
}

TEST(Image, NormalizeIsFloat64RescaleThenFloat32) {
  EXPECT_EQ(normalize_level(0), -1.0f);
  EXPECT_EQ(normalize_level(255), 1.0f);
  for (int v = 0; v < 256; ++v) {
    float rescaled = static_cast<float>(v * 0.00392156862745098);
    EXPECT_EQ(normalize_level(static_cast<uint8_t>(v)), (rescaled - 0.5f) / 0.5f);
  }
}

TEST(Image, PadToSquareCentersLikeExpand2Square) {
  ImageU8 wide;
  wide.width = 4;
  wide.height = 2;
  wide.rgb.assign(4 * 2 * 3, 200);
  ImageU8 sq = pad_to_square(wide);
  ASSERT_EQ(sq.width, 4);
  ASSERT_EQ(sq.height, 4);
  EXPECT_EQ(sq.rgb[0], 127);                 // row 0 is padding
  EXPECT_EQ(sq.rgb[(1 * 4 + 0) * 3], 200);   // rows 1..2 hold the image ((4 - 2) // 2 = 1)
  EXPECT_EQ(sq.rgb[(3 * 4 + 3) * 3], 127);
  ImageU8 tall;
  tall.width = 1;
  tall.height = 4;
  tall.rgb.assign(4 * 3, 9);
  ImageU8 t = pad_to_square(tall);
  EXPECT_EQ(t.rgb[(0 * 4 + 1) * 3], 9);  // column (4 - 1) // 2 = 1
  EXPECT_EQ(t.rgb[(0 * 4 + 0) * 3], 127);
}

TEST(Image, JpegDecodeVersusLibjpegIsMeasured) {
  // With libjpeg-turbo (PIL's decoder, its defaults) JPEG pixels are PIL's exactly. The stb_image
  // fallback uses another IDCT and chroma upsampling: measured (printed for the README) and bounded.
  const bool libjpeg = std::string(jpeg_decoder()) == "libjpeg-turbo";
  for (const char* name : {"photo_q90_420.jpg", "photo_q95_444.jpg"}) {
    Diff d = compare(load_image(kImages + name), load_image(kImages + name + ".rgb.png"));
    std::printf("[ JPEG     ] %s (%s): %.1f %% of values equal to PIL's, mean |diff| %.3f, max %d levels\n", name,
                jpeg_decoder(), 100.0 * d.exact / d.total, d.mean, d.max);
    EXPECT_LE(d.mean, libjpeg ? 0.0 : 0.5) << name;
    EXPECT_LE(d.max, libjpeg ? 0 : 8) << name;
  }
}

// Inputs the image fuzzer (tests/fuzz/fuzz_image) found, kept as regressions: JPEG Huffman tables
// that overflow stb_image's size list, a JPEG scan decoding with a table never defined, a PNM header number that overflows its int, a PNG whose empty
// first IDAT chunk makes stb_image memcpy into a null buffer, one whose chunk length makes it allocate
// 2 GB for a tiny file, a GIF whose 'pad' canvas would be 11008²
// pixels. Each must be refused cleanly or preprocessed, never crash (the
// sanitizer build, `make test-sanitize`, would report any out-of-bounds access).
TEST(Image, FuzzerRegressions) {
  const std::string dir = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fuzz/regressions/";
  VlmConfig pad;
  pad.vision.image_size = 30;
  pad.image_aspect_ratio = "pad";
  struct Case {
    const char* file;
    const char* error;  // nullptr: must decode
  };
  // With libjpeg the JPEG cases are its own errors ("cannot decode image (JPEG: ...)"); the stb_image
  // fallback has pre-checks of its own for them.
  const bool libjpeg = std::string(jpeg_decoder()) == "libjpeg-turbo";
  const char* jpeg_huffman = libjpeg ? "cannot decode image (JPEG: " : "corrupt JPEG Huffman table";
  const Case cases[] = {{"jpeg_dht_counts_over_256.jpg", jpeg_huffman},
                        {"jpeg_dht_overflow_1.jpg", jpeg_huffman},
                        {"jpeg_dht_overflow_2.jpg", "corrupt JPEG Huffman table"},  // FF FF FF D8: not JPEG
                        {"jpeg_dht_overflow_3.jpg", "corrupt JPEG Huffman table"},  // to PIL; stb's path
                        {"jpeg_scan_undefined_huffman_table.jpg", libjpeg ? "cannot decode image (JPEG: " : "Huffman table AC 2, never defined"},
                        {"pnm_header_number_overflow.ppm", "PNM header number"},
                        {"png_empty_first_idat.png", "empty IDAT chunk"},
                        {"png_idat_length_past_end.png", "runs past the end"},
                        {"gif_11008x57_pad_canvas.gif", nullptr},
                        {"gif_57x11008_pad_taps.gif", nullptr},
                        {"bmp_57x10323_pad_taps.bmp", nullptr}};
  for (const Case& c : cases) {
    try {
      ImageU8 im = load_image(dir + c.file);
      OwnedTensor px = preprocess_image(im, pad);
      EXPECT_EQ(c.error, nullptr) << c.file << " decoded, expected: " << c.error;
      EXPECT_TRUE(px.tensor.has_shape({3, 30, 30}));
    } catch (const Error& e) {
      ASSERT_NE(c.error, nullptr) << c.file << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find(c.error), std::string::npos) << c.file << ": " << e.what();
    }
  }
}

TEST(Image, PadResizeNeverBuildsTheCanvas) {
  // A 4000 x 1 strip: padded to 4000², resized to 30². Same result as padding explicitly.
  ImageU8 strip;
  strip.width = 4000;
  strip.height = 1;
  strip.rgb.resize(4000 * 3);
  for (size_t i = 0; i < strip.rgb.size(); ++i) strip.rgb[i] = static_cast<uint8_t>(i * 7);
  VlmConfig pad;
  pad.vision.image_size = 30;
  pad.image_aspect_ratio = "pad";
  OwnedTensor direct = preprocess_image(strip, pad);
  ImageU8 explicit_canvas = resize_bicubic(pad_to_square(strip), 30, 30);
  for (int64_t i = 0; i < 30 * 30; ++i)
    for (int c = 0; c < 3; ++c)
      ASSERT_EQ(direct.tensor.ptr<float>()[c * 900 + i], normalize_level(explicit_canvas.rgb[i * 3 + c]));
}

TEST(Image, BadImagesAreRefusedWithTheFileNamed) {
  tl::test::ScratchDir dir;
  auto refused = [&](const std::string& bytes, const std::string& fragment) {
    tl::test::write_file(dir / "bad.img", bytes);
    try {
      load_image(dir / "bad.img");
      ADD_FAILURE() << "accepted: " << fragment;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::BadInput);
      std::string msg = e.what();
      EXPECT_NE(msg.find("bad.img"), std::string::npos) << msg;
      EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
    }
  };
  refused("", "empty file");
  refused("this is not an image", "cannot decode image");
  std::string png = tl::test::slurp(kImages + "src_rgb.png");
  refused(png.substr(0, 60), "cannot decode image");  // truncated
  // A PNG header claiming 20000 x 20000: refused from the header, before decoding anything.
  std::string huge = png;
  const unsigned char dims[8] = {0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20};
  huge.replace(16, 8, reinterpret_cast<const char*>(dims), 8);
  refused(huge, "image is 20000 x 20000 (expected sides of at most 16384 pixels)");  // stb_image's limit
  const unsigned char big[8] = {0, 0, 0x23, 0x28, 0, 0, 0x23, 0x28};  // 9000 x 9000 = 81 M pixels
  huge.replace(16, 8, reinterpret_cast<const char*>(big), 8);
  refused(huge, "image is 9000 x 9000 = 81000000 pixels (expected at most 67108864)");
  EXPECT_THROW(load_image(dir / "missing.png"), Error);
}

// Past stb_image's side limit (16384) a valid header is named as too large, not "unknown image type".
TEST(Image, SidesPastTheLimitAreNamed) {
  auto expect_side_error = [](const std::vector<uint8_t>& bytes, const char* what) {
    try {
      decode_image(bytes.data(), bytes.size(), what);
      FAIL() << what << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("image is 16385 x 10 (expected sides of at most 16384 pixels)"),
                std::string::npos) << what << ": " << e.what();
    }
  };
  // PNG: signature, IHDR (16385 x 10, 8-bit RGB); the image data never read.
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                              0, 0, 0x40, 0x01, 0, 0, 0, 10, 8, 2, 0, 0, 0, 0, 0, 0, 0};
  expect_side_error(png, "wide.png");
  // JPEG: SOI, then a baseline SOF0 declaring 10 rows of 16385 columns.
  std::vector<uint8_t> jpeg = {0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, 0, 10, 0x40, 0x01, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1};
  expect_side_error(jpeg, "wide.jpg");
}

// The sweep (tests/fixtures/images/sweep, tools/make_image_sweep.py): every format and mode the engine
// reads, each decoded exactly as PIL's Image.open(...).convert("RGB") — JPEG (4:2:0, 4:2:2, 4:4:4,
// progressive, optimized, restart markers, greyscale, CMYK, an EXIF orientation left unapplied) where
// libjpeg is built in, PNG (16-bit grey+alpha, RGB and RGBA, 1/2/4-bit grey, 4-bit palette, palette
// with tRNS, an APNG's first frame), BMP (8-bit palette, grey, 1-bit, RLE8 and RLE4 with a delta), PNM
// (P1-P6, plain and raw, maxvals 6, 100, 300, 600, 1000), GIF (with and without a transparent index), WebP
// (lossy, lossless, each with alpha, the first frame of an animation) where libwebp is built in, TIFF
// (uncompressed, LZW, Deflate, PackBits; strips and tiles; RGB, RGBA, grey, 1-bit, palette, CMYK,
// 16-bit grey) where libtiff is.
TEST(Image, SweepMatchesPilExactly) {
  const std::string dir = kImages + "sweep/";
  const bool libjpeg = std::string(jpeg_decoder()) == "libjpeg-turbo";
  const bool libwebp = std::string(webp_decoder()) == "libwebp";
  const bool libtiff = std::string(tiff_decoder()) == "libtiff";
  int checked = 0;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if ((name.size() < 4 || name.substr(name.size() - 4) != ".rgb") && name != "resized.txt") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (!libjpeg && name.rfind("jpeg_", 0) == 0) continue;  // the stb fallback: measured above, not exact
    if (!libwebp && name.rfind("webp_", 0) == 0) continue;  // a build without libwebp refuses WebP
    if (!libtiff && name.rfind("tiff_", 0) == 0) continue;  // likewise TIFF without libtiff
    const std::string want = tl::test::slurp(dir + name + ".rgb");
    ASSERT_GE(want.size(), 4u) << name;
    ImageU8 expected;
    expected.width = static_cast<uint8_t>(want[0]) | static_cast<uint8_t>(want[1]) << 8;
    expected.height = static_cast<uint8_t>(want[2]) | static_cast<uint8_t>(want[3]) << 8;
    expected.rgb.assign(want.begin() + 4, want.end());
    const Diff d = compare(load_image(dir + name), expected);
    EXPECT_EQ(d.exact, d.total) << name << ": " << 100.0 * d.exact / std::max<size_t>(d.total, 1)
                                << " % of values equal, max diff " << d.max;
    ++checked;
  }
  EXPECT_GE(checked, 25 + (libjpeg ? 9 : 0) + (libwebp ? 5 : 0) + (libtiff ? 11 : 0));
}

// Each sweep image through the BICUBIC resize to 64x64 (up), 24x24 (down) and 100x31 (non-square):
// PIL's bytes, compared by their FNV-1a hash (resized.txt).
TEST(Image, SweepResizesMatchPil) {
  const std::string dir = kImages + "sweep/";
  std::istringstream lines(tl::test::slurp(dir + "resized.txt"));
  const bool libjpeg = std::string(jpeg_decoder()) == "libjpeg-turbo";
  const bool libwebp = std::string(webp_decoder()) == "libwebp", libtiff = std::string(tiff_decoder()) == "libtiff";
  std::string name, size, hash;
  int checked = 0;
  while (lines >> name >> size >> hash) {
    if ((!libjpeg && name.rfind("jpeg_", 0) == 0) || (!libwebp && name.rfind("webp_", 0) == 0) ||
        (!libtiff && name.rfind("tiff_", 0) == 0))
      continue;
    const int w = std::stoi(size), h = std::stoi(size.substr(size.find('x') + 1));
    const ImageU8 r = resize_bicubic(load_image(dir + name), w, h);
    char got[17];
    std::snprintf(got, sizeof got, "%016llx", static_cast<unsigned long long>(content_hash_fnv(r.rgb)));
    EXPECT_EQ(got, hash) << name << " resized to " << size;
    ++checked;
  }
  EXPECT_GE(checked, 3 * 25);
}

// A run-length BMP whose runs go far past its row (x would overflow an int after ~8 M runs of 255):
// the column stops at the row's end, nothing is written outside the image.
TEST(Image, RunLengthBmpRunsPastTheRowStayInside) {
  std::vector<uint8_t> f = {'B', 'M', 0, 0, 0, 0, 0, 0, 0, 0, 62, 0, 0, 0,  // file header, data at 62
                            40, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 8, 0, 1, 0, 0, 0,  // 2 x 1, 8 bits, RLE8
                            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,  // 2 colours
                            10, 20, 30, 0, 40, 50, 60, 0};                              // palette (BGRx)
  for (int i = 0; i < 100000; ++i) f.insert(f.end(), {0xFF, 0x01});                    // runs of 255 of index 1
  f.insert(f.end(), {0, 1});                                                             // end of bitmap
  const ImageU8 im = decode_image(f.data(), f.size(), "runs.bmp");
  ASSERT_EQ(im.rgb.size(), 6u);
  EXPECT_EQ(im.rgb, (std::vector<uint8_t>{60, 50, 40, 60, 50, 40}));
}
