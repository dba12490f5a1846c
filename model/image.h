// model/image.h — image loading and SigLIP preprocessing, matching what TinyLLaVA's Python does:
//   PIL Image.open(...).convert("RGB")      -> load_image / decode_image
//   expand2square (image_aspect_ratio "pad") -> pad_to_square, filled with (127, 127, 127)
//   SiglipImageProcessor: PIL BICUBIC resize to S×S (aspect not kept), rescale by 1/255 in float64
//   then cast to float32, normalize (v - 0.5) / 0.5 in float32, channels first -> preprocess
//
// Decoding uses stb_image for JPEG, PNG, BMP, GIF (first frame) and PNM. PNG, BMP and PNM decode
// exactly as PIL does; JPEG decoders differ slightly (stb_image vs libjpeg; measured in the README).
// RGB conversion follows convert("RGB"): grey is replicated, alpha is dropped (not composited),
// palettes are expanded; 16-bit PNGs keep the high byte for colour and are clipped to 255 for grey
// (PIL's I;16 -> L). The resize is Pillow's fixed-point separable bicubic (Resample.c), bit-exact.
//
// Limits: at most kMaxImagePixels pixels and 16384 a side, checked from the header before any pixel
// is decoded; empty or undecodable files are refused with the file named.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "weights/config.h"
#include "tensor/buffer.h"

namespace tl {

constexpr int64_t kMaxImagePixels = 64ll << 20;  // 67 108 864 (e.g. 8192 × 8192)

struct ImageU8 {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // height × width × 3, row-major
};

ImageU8 load_image(const std::string& path);
// max_pixels lowers the pixel limit (the fuzzer uses it to spend its time on headers, not on decoding
// huge images).
ImageU8 decode_image(const uint8_t* data, size_t size, const std::string& source, int64_t max_pixels = kMaxImagePixels);

ImageU8 pad_to_square(const ImageU8& im, uint8_t fill = 127);
ImageU8 resize_bicubic(const ImageU8& im, int out_width, int out_height);

// F32 [3, S, S] pixel values for the vision tower (pad if the config says so, resize, normalize).
OwnedTensor preprocess_image(const ImageU8& im, const VlmConfig& config);
// One 8-bit level as the processor maps it: float32(float64(u8) × (1/255)), then (v - 0.5) / 0.5.
float normalize_level(uint8_t u8);

}  // namespace tl
