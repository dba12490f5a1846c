// model/stb_image_impl.cpp — the one translation unit that compiles stb_image (Debian libstb-dev's
// header), restricted to the formats we document and to safe sizes, for untrusted input:
// JPEG, PNG, BMP, GIF and PNM only; memory input only (no stdio); at most 16384 pixels a side
// (model/image.cpp also checks the pixel count before decoding).
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_PNM
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS 16384
#include <stb/stb_image.h>
