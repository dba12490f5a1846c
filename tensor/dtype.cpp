// tensor/dtype.cpp — exact f16/bf16 <-> f32 conversions (see dtype.h for the contract).
#include "tensor/dtype.h"

#include <cmath>
#include <cstring>

#include "tensor/error.h"

namespace tl {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I8: return 1;
    case DType::U8: return 1;
    case DType::Q8: return 1;
    case DType::Q4: fail_internal("dtype_size: Q4 holds two codes per byte (quant_row_bytes)");
  }
  fail_internal("dtype_size: invalid dtype %d", static_cast<int>(t));
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::Q8: return "Q8";
    case DType::Q4: return "Q4";
  }
  return "?";
}

bool is_quantized(DType t) { return t == DType::Q8 || t == DType::Q4; }

bool dtype_from_name(std::string_view name, DType* out) {
  if (name == "F32") *out = DType::F32;
  else if (name == "F16") *out = DType::F16;
  else if (name == "BF16") *out = DType::BF16;
  else if (name == "I8") *out = DType::I8;
  else if (name == "U8") *out = DType::U8;
  else return false;
  return true;
}

static inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

static inline float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) return float_of(sign | 0x7f800000u | (mant << 13));  // Inf / NaN (payload kept)
  if (exp != 0) return float_of(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return float_of(sign);  // ±0
  // Subnormal: mant·2^-24. Shift the leading one up to bit 10 to make it a normal f32.
  uint32_t e = 113;  // biased f32 exponent of 2^-14
  while (!(mant & 0x400)) {
    mant <<= 1;
    --e;
  }
  return float_of(sign | (e << 23) | ((mant & 0x3ff) << 13));
}

uint16_t f32_to_f16(float f) {
  uint32_t x = bits_of(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) {  // NaN: keep the top payload bits; never let it become Inf
    uint16_t m = static_cast<uint16_t>((ax >> 13) & 0x3ff);
    return sign | 0x7c00 | (m ? m : 0x200);
  }
  // 65520 is halfway between 65504 (max f16, odd mantissa) and 65536: ties-to-even goes to Inf.
  if (ax >= 0x477ff000u) return sign | 0x7c00;
  if (ax >= 0x38800000u) {  // normal f16 range [2^-14, 65520)
    uint32_t h = (ax >> 13) - (112u << 10);  // rebias exponent 127 -> 15, keep top 10 mantissa bits
    uint32_t rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // a carry into the exponent is correct
    return sign | static_cast<uint16_t>(h);
  }
  if (ax < 0x33000000u) return sign;  // below 2^-25 rounds to ±0 (2^-25 itself is handled below)
  // f16 subnormal: result = round(value / 2^-24); value = m·2^(e-150) with the implicit bit in m.
  uint32_t e = ax >> 23;
  uint32_t m = (ax & 0x7fffff) | 0x800000;
  uint32_t shift = 126 - e;  // in [14, 24]
  uint32_t h = m >> shift;
  uint32_t rem = m & ((1u << shift) - 1);
  uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (h & 1))) ++h;  // may round up to the smallest normal: correct
  return sign | static_cast<uint16_t>(h);
}

float bf16_to_f32(uint16_t h) { return float_of(static_cast<uint32_t>(h) << 16); }

uint16_t f32_to_bf16(float f) {
  uint32_t x = bits_of(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) {  // NaN: truncate, keep it a NaN
    uint16_t h = static_cast<uint16_t>(x >> 16);
    return (h & 0x7f) ? h : static_cast<uint16_t>(h | 0x40);
  }
  x += 0x7fffu + ((x >> 16) & 1);  // round to nearest even; overflow carries into Inf correctly
  return static_cast<uint16_t>(x >> 16);
}

static int8_t f32_to_i8(float f) {
  if (std::isnan(f)) return 0;
  float r = std::round(f);
  if (r > 127.0f) return 127;
  if (r < -128.0f) return -128;
  return static_cast<int8_t>(r);
}

static uint8_t f32_to_u8(float f) {
  if (std::isnan(f)) return 0;
  const float r = std::round(f);
  return r > 255.0f ? 255 : r < 0.0f ? 0 : static_cast<uint8_t>(r);
}

void convert_to_f32(const void* src, DType src_type, float* dst, size_t n) {
  switch (src_type) {
    case DType::F32:
      std::memcpy(dst, src, n * 4);
      return;
    case DType::F16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::I8: {
      const int8_t* s = static_cast<const int8_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
      return;
    }
    case DType::U8: {
      const uint8_t* s = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
      return;
    }
    case DType::Q8:
    case DType::Q4: break;
  }
  fail_internal("convert_to_f32: invalid dtype %d", static_cast<int>(src_type));
}

void convert_from_f32(const float* src, void* dst, DType dst_type, size_t n) {
  switch (dst_type) {
    case DType::F32:
      std::memcpy(dst, src, n * 4);
      return;
    case DType::F16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::BF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::I8: {
      int8_t* d = static_cast<int8_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_i8(src[i]);
      return;
    }
    case DType::U8: {
      uint8_t* d = static_cast<uint8_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_u8(src[i]);
      return;
    }
    case DType::Q8:
    case DType::Q4: break;
  }
  fail_internal("convert_from_f32: invalid dtype %d", static_cast<int>(dst_type));
}

}  // namespace tl
