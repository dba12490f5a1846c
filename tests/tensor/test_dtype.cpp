// tests/tensor/test_dtype.cpp — exact f16/bf16 conversions: all 65 536 codes of each type, rounding
// ties, subnormals, overflow, NaN/Inf; f32 -> f16 against two independent oracles (a nearest-value
// search over all f16 values in double precision, and the CPU's F16C instruction where present).
#include <gtest/gtest.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "tensor/dtype.h"

using namespace tl;

namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// The value of an f16 code by its definition, in double.
double f16_value(uint16_t h) {
  int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double v = exp == 0 ? std::ldexp(mant, -24) : std::ldexp(1024 + mant, exp - 25);
  return sign ? -v : v;
}

// Nearest f16 by exhaustive search over the sorted finite positive codes; ties to the even code;
// beyond 65520 (the midpoint past the largest finite value) is Inf.
uint16_t f16_oracle(float x) {
  static std::vector<double> values = [] {
    std::vector<double> v;
    for (int h = 0; h < 0x7c00; ++h) v.push_back(f16_value(static_cast<uint16_t>(h)));
    return v;
  }();
  uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  double a = std::fabs(static_cast<double>(x));
  if (std::isinf(a) || a >= 65520.0) return sign | 0x7c00;
  size_t hi = std::lower_bound(values.begin(), values.end(), a) - values.begin();
  if (hi == 0) return sign;
  if (hi == values.size()) return sign | 0x7bff;  // between 65504 and the 65520 midpoint
  if (values[hi] == a) return sign | static_cast<uint16_t>(hi);
  size_t lo = hi - 1;
  double dlo = a - values[lo], dhi = values[hi] - a;
  if (dlo < dhi) return sign | static_cast<uint16_t>(lo);
  if (dhi < dlo) return sign | static_cast<uint16_t>(hi);
  return sign | static_cast<uint16_t>((lo & 1) ? hi : lo);
}

__attribute__((target("f16c"))) uint16_t f16_hardware(float x) {
  return static_cast<uint16_t>(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT));
}

}  // namespace

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::F32), 4u);
  EXPECT_EQ(dtype_size(DType::F16), 2u);
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_EQ(dtype_size(DType::I8), 1u);
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::I8}) {
    DType back;
    ASSERT_TRUE(dtype_from_name(dtype_name(t), &back));
    EXPECT_EQ(back, t);
  }
  DType unused;
  EXPECT_FALSE(dtype_from_name("F64", &unused));
  EXPECT_FALSE(dtype_from_name("f16", &unused));
}

TEST(F16, AllCodesRoundTripAndDecodeExactly) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = f16_to_f32(static_cast<uint16_t>(h));
    ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
    int exp = (h >> 10) & 0x1f;
    if (exp == 0x1f) {
      ASSERT_TRUE((h & 0x3ff) ? std::isnan(f) : std::isinf(f)) << std::hex << h;
    } else {
      ASSERT_EQ(static_cast<double>(f), f16_value(static_cast<uint16_t>(h))) << std::hex << h;
    }
  }
}

TEST(BF16, AllCodesRoundTripAndDecodeExactly) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = bf16_to_f32(static_cast<uint16_t>(h));
    ASSERT_EQ(bits(f), h << 16);
    ASSERT_EQ(f32_to_bf16(f), h) << std::hex << h;
  }
}

TEST(F16, RoundingTiesSubnormalsOverflow) {
  const float one = 1.0f;
  EXPECT_EQ(f32_to_f16(one + std::ldexp(1.0f, -11)), 0x3c00);      // tie between 1 and 1+2^-10 -> even (1)
  EXPECT_EQ(f32_to_f16(one + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie -> even (1 + 2^-9)
  EXPECT_EQ(f32_to_f16(std::nextafter(one + std::ldexp(1.0f, -11), 2.0f)), 0x3c01);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.996f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // midpoint to 65536 -> ties to even -> Inf
  EXPECT_EQ(f32_to_f16(-65520.0f), 0xfc00);
  EXPECT_EQ(f32_to_f16(1e30f), 0x7c00);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);                     // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);                     // tie with 0 -> even (0)
  EXPECT_EQ(f32_to_f16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
  EXPECT_EQ(f32_to_f16(3 * std::ldexp(1.0f, -25)), 0x0002);                 // tie 1|2 -> even (2)
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -25)), 0x0400);  // tie 0x3ff|0x400
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(1e-30f), 0x0000);
  EXPECT_EQ(f32_to_f16(INFINITY), 0x7c00);
  EXPECT_EQ(f32_to_f16(-INFINITY), 0xfc00);
}

TEST(F16, NaNStaysNaN) {
  for (uint32_t payload : {1u, 0x1fffu, 0x2000u, 0x400000u, 0x7fffffu}) {
    for (uint32_t sign : {0u, 0x80000000u}) {
      uint16_t h = f32_to_f16(from_bits(sign | 0x7f800000u | payload));
      EXPECT_EQ(h & 0x7c00, 0x7c00);
      EXPECT_NE(h & 0x3ff, 0) << "NaN turned into Inf for payload " << payload;
      EXPECT_EQ(h & 0x8000, sign >> 16);
    }
  }
}

TEST(BF16, RoundingTiesOverflowNaN) {
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);      // tie -> even (1)
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);  // tie -> even
  EXPECT_EQ(f32_to_bf16(std::nextafter(1.0f + std::ldexp(1.0f, -8), 2.0f)), 0x3f81);
  EXPECT_EQ(f32_to_bf16(3.4028235e38f), 0x7f80);  // FLT_MAX is past the last midpoint -> Inf
  EXPECT_EQ(f32_to_bf16(from_bits(0x7f7f7fffu)), 0x7f7f);
  EXPECT_EQ(f32_to_bf16(from_bits(0x00008000u)), 0x0000);  // subnormal tie -> even
  EXPECT_EQ(f32_to_bf16(from_bits(0x00018000u)), 0x0002);
  uint16_t n = f32_to_bf16(from_bits(0x7f800001u));
  EXPECT_EQ(n & 0x7f80, 0x7f80);
  EXPECT_NE(n & 0x7f, 0);
  EXPECT_EQ(f32_to_bf16(-INFINITY), 0xff80);
}

TEST(F16, RandomFloatsMatchNearestValueOracle) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> any;
  // Random bit patterns concentrated on the f16 range (exponents 100..145), plus fully random ones.
  for (int i = 0; i < 400000; ++i) {
    uint32_t u = any(rng);
    if (i % 2) u = (u & 0x807fffffu) | ((100u + u % 46u) << 23);
    float x = from_bits(u);
    if (std::isnan(x)) continue;
    ASSERT_EQ(f32_to_f16(x), f16_oracle(x)) << std::hexfloat << x;
  }
}

TEST(F16, RandomFloatsMatchF16CInstruction) {
  if (!tl::cpu::cpu_features().f16c) GTEST_SKIP() << "this CPU has no F16C instruction";
  std::mt19937 rng(11);
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 2000000; ++i) {
    uint32_t u = any(rng);
    float x = from_bits(u);
    if (std::isnan(x)) continue;  // F16C quiets NaNs differently; NaN-ness is tested above
    ASSERT_EQ(f32_to_f16(x), f16_hardware(x)) << std::hex << u;
  }
}

TEST(BF16, RandomFloatsAreNearest) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 1000000; ++i) {
    uint32_t u = any(rng);
    float x = from_bits(u);
    if (std::isnan(x) || std::isinf(x)) continue;
    uint16_t lo = static_cast<uint16_t>(u >> 16);
    uint16_t hi = static_cast<uint16_t>(lo + 1);  // next code away from zero (may be Inf)
    double dx = std::fabs(static_cast<double>(x));
    double dlo = dx - std::fabs(static_cast<double>(bf16_to_f32(lo)));
    // Rounding treats the code past the largest finite value as 2^128 (IEEE overflow threshold).
    double vhi = (hi & 0x7fff) == 0x7f80 ? std::ldexp(1.0, 128) : std::fabs(static_cast<double>(bf16_to_f32(hi)));
    double dhi = vhi - dx;
    uint16_t want = dlo < dhi ? lo : dhi < dlo ? hi : ((lo & 1) ? hi : lo);
    ASSERT_EQ(f32_to_bf16(x), want) << std::hex << u;
  }
}

TEST(Convert, BulkMatchesScalar) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  const size_t n = 1037;  // odd: no vector-width assumptions
  std::vector<float> src(n), back(n);
  for (float& v : src) v = nd(rng);
  for (DType t : {DType::F16, DType::BF16, DType::F32}) {
    std::vector<uint8_t> mid(n * dtype_size(t));
    convert_from_f32(src.data(), mid.data(), t, n);
    convert_to_f32(mid.data(), t, back.data(), n);
    for (size_t i = 0; i < n; ++i) {
      float want = t == DType::F16 ? f16_to_f32(f32_to_f16(src[i]))
                 : t == DType::BF16 ? bf16_to_f32(f32_to_bf16(src[i])) : src[i];
      ASSERT_EQ(bits(back[i]), bits(want)) << dtype_name(t) << " element " << i;
    }
  }
}

TEST(Convert, I8IsRoundedSaturatedIntegerValue) {
  float src[] = {0.4f, 0.5f, -0.5f, 1.5f, 126.6f, 300.0f, -300.0f, NAN, -128.0f};
  int8_t want[] = {0, 1, -1, 2, 127, 127, -128, 0, -128};
  int8_t got[9];
  convert_from_f32(src, got, DType::I8, 9);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(got[i], want[i]) << i;
  float back[9];
  convert_to_f32(got, DType::I8, back, 9);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(back[i], static_cast<float>(want[i]));
}
