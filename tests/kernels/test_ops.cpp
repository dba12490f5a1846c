// tests/kernels/test_ops.cpp — every CPU kernel against its kernels/ref twin on random data: odd sizes
// and tails, the real model's shapes, F32/F16/BF16 weights, and every compiled ISA table
// (generic, AVX2, AVX-512) for the SIMD loops. Tolerances are relative to the output's magnitude:
// F32 math with a different summation order (reference: F64) agrees to ~1e-6.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/isa.h"
#include "kernels/ops.h"
#include "kernels/ref/ref.h"
#include "kernels/rows.h"
#include "tensor/buffer.h"
#include "tensor/error.h"
#include "test_util.h"

using namespace tl;

namespace {

const ops::Context kCpu;  // the CPU kernels: F32, all threads, the best ISA

OwnedTensor random_f32(const std::vector<int64_t>& shape, float scale = 1.0f) {
  OwnedTensor t = OwnedTensor::empty(DType::F32, shape);
  std::normal_distribution<float> nd(0.0f, scale);
  std::mt19937& rng = tl::test::test_rng();
  for (int64_t i = 0; i < t.tensor.numel(); ++i) t.tensor.ptr<float>()[i] = nd(rng);
  return t;
}

// Random weights stored as `dt` (values rounded to it).
OwnedTensor random_weight(DType dt, const std::vector<int64_t>& shape, float scale) {
  OwnedTensor f = random_f32(shape, scale);
  OwnedTensor w = OwnedTensor::empty(dt, shape);
  convert_from_f32(f.tensor.ptr<float>(), w.tensor.data, dt, static_cast<size_t>(f.tensor.numel()));
  return w;
}

double max_rel(const Tensor& got, const Tensor& want) {
  double m = 0, d = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    m = std::max(m, std::fabs(static_cast<double>(want.ptr<float>()[i])));
    d = std::max(d, std::fabs(static_cast<double>(got.ptr<float>()[i]) - want.ptr<float>()[i]));
  }
  return d / std::max(m, 1e-30);
}

std::vector<const cpu::IsaKernels*> isa_tables() { return cpu::runnable_isa_tables(); }

struct MatmulShape {
  int64_t T, K, N;
};

struct AttentionShape {
  int64_t T, S, H, Hkv, Dh, offset;
};

// One table's attention kernel, KV head by KV head, against the reference on every shape (F32
// summation error).
void expect_table_attention_matches_reference(const cpu::IsaKernels& isa, const std::vector<AttentionShape>& shapes) {
  for (const AttentionShape& s : shapes) {
    OwnedTensor q = random_f32({s.T, s.H, s.Dh}), k = random_f32({s.S, s.Hkv, s.Dh}), v = random_f32({s.S, s.Hkv, s.Dh});
    OwnedTensor want = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh}), got = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh});
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.Dh));
    ref::attention(q.tensor, k.tensor, v.tensor, want.tensor, scale, s.offset);
    const int64_t group = s.H / s.Hkv;
    for (int64_t g = 0; g < s.Hkv; ++g)
      isa.attention(q.tensor.ptr<float>() + g * group * s.Dh, s.T, s.H * s.Dh, group, s.Dh,
                    k.tensor.ptr<float>() + g * s.Dh, v.tensor.ptr<float>() + g * s.Dh, s.Hkv * s.Dh, s.S, s.Dh, scale,
                    s.offset, got.tensor.ptr<float>() + g * group * s.Dh, s.H * s.Dh, s.Dh);
    EXPECT_LE(max_rel(got.tensor, want.tensor), 3e-6)
        << isa.name << " T=" << s.T << " S=" << s.S << " H=" << s.H << " Hkv=" << s.Hkv << " Dh=" << s.Dh;
  }
}

}  // namespace

TEST(Kernels, IsaGemmMatchesReferenceAllTablesDtypesAndTails) {
  const std::vector<MatmulShape> shapes = {{1, 1, 1},    {1, 37, 5},   {2, 64, 130}, {3, 300, 70}, {4, 17, 65},
                                           {5, 257, 33}, {7, 512, 64}, {13, 99, 129}, {29, 600, 200}};
  for (const cpu::IsaKernels* isa : isa_tables()) {
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
      for (const MatmulShape& s : shapes) {
        OwnedTensor x = random_f32({s.T, s.K}), w = random_weight(dt, {s.N, s.K}, 0.1f);
        OwnedTensor b = random_f32({s.N});
        OwnedTensor want = OwnedTensor::empty(DType::F32, {s.T, s.N}), got = OwnedTensor::empty(DType::F32, {s.T, s.N});
        ref::matmul(x.tensor, w.tensor, &b.tensor, want.tensor);
        isa->gemm(x.tensor.ptr<float>(), s.T, s.K, w.tensor.data, dt, b.tensor.ptr<float>(), got.tensor.ptr<float>(),
                  s.N, 0, s.N);
        EXPECT_LE(max_rel(got.tensor, want.tensor), 2e-6)
            << isa->name << " " << dtype_name(dt) << " T=" << s.T << " K=" << s.K << " N=" << s.N;
        // The gathering variant (patch embedding's) computes the same from rows fetched a strip at a time.
        OwnedTensor viag = OwnedTensor::empty(DType::F32, {s.T, s.N});
        struct Rows {
          const float* x;
          int64_t K;
          static void fetch(const void* c, int64_t t0, int64_t n, int64_t k0, int64_t kb, float* dst) {
            const Rows& r = *static_cast<const Rows*>(c);
            for (int64_t i = 0; i < n; ++i) std::copy_n(r.x + (t0 + i) * r.K + k0, kb, dst + i * kb);
          }
        } rows{x.tensor.ptr<float>(), s.K};
        if (s.T > cpu::kGemvMaxRows) {  // below it gemm is the GEMV (gemv.inc)
          isa->gemm_gather(&Rows::fetch, &rows, s.T, s.K, w.tensor.data, dt, b.tensor.ptr<float>(), viag.tensor.ptr<float>(),
                           s.N, 0, s.N);
          EXPECT_EQ(max_rel(viag.tensor, got.tensor), 0.0) << isa->name << " gather";
        }
        // A column sub-range writes only its columns.
        std::vector<float> before(got.tensor.ptr<float>(), got.tensor.ptr<float>() + s.T * s.N);
        if (s.N > 3) {
          isa->gemm(x.tensor.ptr<float>(), s.T, s.K, w.tensor.data, dt, nullptr, got.tensor.ptr<float>(), s.N, 1, s.N - 1);
          for (int64_t t = 0; t < s.T; ++t) {
            EXPECT_EQ(got.tensor.ptr<float>()[t * s.N], before[t * s.N]);
            EXPECT_EQ(got.tensor.ptr<float>()[t * s.N + s.N - 1], before[t * s.N + s.N - 1]);
          }
        }
      }
    }
  }
}

// The AMX kernel's tiling (32 × 32 blocks of 16 × 16 tiles, K padded to whole 16-pair tiles, row and
// column tails) with the tile instructions emulated, against the AVX512_BF16 kernel: same bf16 products,
// F32 sums in another order. (On a CPU with AMX the real kernel also self-tests at first use, and the
// ladder test below runs it.)
TEST(Kernels, AmxTilingEmulatedMatchesBf16Kernel) {
  if (!cpu::gemm_bf16_available()) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  std::printf("[ amx      ] %s\n", cpu::amx_status());
  const std::array<std::array<int64_t, 3>, 6> shapes = {{{1, 1, 1}, {37, 301, 70}, {33, 64, 65}, {16, 1536, 64},
                                                        {17, 1100, 33}, {100, 1152, 96}}};
  using cpu::Bf16Kernel;
  for (const auto& sh : shapes)
    for (DType dt : {DType::F16, DType::BF16, DType::F32}) {
      const int64_t T = sh[0], K = sh[1], N = sh[2];
      OwnedTensor x = random_f32({T, K}), w = random_weight(dt, {N, K}, 0.5f), b = random_f32({N});
      std::vector<uint32_t> a_dot(static_cast<size_t>(T * cpu::bf16_pairs(K, Bf16Kernel::Dot)));
      std::vector<uint32_t> a_amx(static_cast<size_t>(T * cpu::bf16_pairs(K, Bf16Kernel::AmxEmulated)));
      std::vector<float> want(static_cast<size_t>(T * N)), got(static_cast<size_t>(T * N));
      cpu::pack_activations_bf16(x.tensor.ptr<float>(), T, K, a_dot.data(), Bf16Kernel::Dot);
      cpu::gemm_bf16(Bf16Kernel::Dot, a_dot.data(), T, K, w.tensor.data, dt, b.tensor.ptr<float>(), want.data(), N, 0, N);
      cpu::pack_activations_bf16(x.tensor.ptr<float>(), T, K, a_amx.data(), Bf16Kernel::AmxEmulated);
      cpu::gemm_bf16(Bf16Kernel::AmxEmulated, a_amx.data(), T, K, w.tensor.data, dt, b.tensor.ptr<float>(), got.data(), N,
                     0, N);
      double max_ref = 0, max_diff = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
        max_diff = std::max(max_diff, std::fabs(static_cast<double>(got[i]) - want[i]));
      }
      EXPECT_LE(max_diff, 1e-5 * max_ref) << T << "x" << K << "x" << N << " " << dtype_name(dt);
    }
}

// The Dot kernel's slice per cache geometry: a panel (128·kc bytes) within a third of L2, else (small
// or unknown L2) within two thirds of L1d, else 256.
TEST(Kernels, Bf16SliceFollowsTheCaches) {
  EXPECT_EQ(cpu::bf16_slice_inputs(48 << 10, 1 << 20), 2304);  // Zen 5
  EXPECT_EQ(cpu::bf16_slice_inputs(32 << 10, 1 << 20), 2304);  // Zen 4
  EXPECT_EQ(cpu::bf16_slice_inputs(48 << 10, 2 << 20), 4608);  // Sapphire Rapids
  EXPECT_EQ(cpu::bf16_slice_inputs(48 << 10, 512 << 10), 1152);
  EXPECT_EQ(cpu::bf16_slice_inputs(48 << 10, 256 << 10), 256);
  EXPECT_EQ(cpu::bf16_slice_inputs(32 << 10, 0), 128);
  EXPECT_EQ(cpu::bf16_slice_inputs(0, 0), 256);
}

// x (or w) rounded to bfloat16 and back, as the bf16 rungs see it.
static OwnedTensor bf16_rounded(const Tensor& t) {
  OwnedTensor f = OwnedTensor::empty(DType::F32, t.shape_vec());
  convert_to_f32(t.data, t.dtype, f.tensor.ptr<float>(), static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) f.tensor.ptr<float>()[i] = bf16_to_f32(f32_to_bf16(f.tensor.ptr<float>()[i]));
  return f;
}

// Every rung of the GEMM ladder (gemm.h) this CPU runs, by name, against the reference: odd shapes and
// tails, and the model's K and N. F32 rungs against the exact product; bf16 rungs against the exact
// product of the bf16-rounded operands (their only approximation), both to F32 summation error.
TEST(Kernels, GemmLadderEveryRungMatchesReference) {
  const std::vector<cpu::GemmRung> ladder = cpu::gemm_ladder();
  ASSERT_GE(ladder.size(), 5u);  // the four study rungs and at least one register tile
  for (const char* name : {"naive", "loop-order", "cache-blocked", "packed", "register-tile-generic"})
    EXPECT_NE(cpu::find_rung(ladder, name), nullptr) << name;
  EXPECT_EQ(cpu::find_rung(ladder, "no-such-rung"), nullptr);
  const std::vector<MatmulShape> shapes = {{1, 1, 1},     {3, 300, 70},   {4, 17, 65},     {7, 513, 64},
                                           {13, 99, 129}, {37, 1152, 1152}, {9, 4304, 1152}, {5, 1536, 2304}};
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (const MatmulShape& s : shapes) {
      OwnedTensor x = random_f32({s.T, s.K}), w = random_weight(dt, {s.N, s.K}, 0.1f), b = random_f32({s.N});
      OwnedTensor exact = OwnedTensor::empty(DType::F32, {s.T, s.N}), rounded = OwnedTensor::empty(DType::F32, {s.T, s.N});
      ref::matmul(x.tensor, w.tensor, &b.tensor, exact.tensor);
      ref::matmul(bf16_rounded(x.tensor).tensor, bf16_rounded(w.tensor).tensor, &b.tensor, rounded.tensor);
      for (const cpu::GemmRung& rung : ladder) {
        const bool bf16 = rung.name.rfind("bf16-dot", 0) == 0 || rung.name == "amx";
        if (bf16 && s.T < 4) continue;  // decode never takes the bf16 kernels
        OwnedTensor got = OwnedTensor::empty(DType::F32, {s.T, s.N});
        rung.run(x.tensor.ptr<float>(), s.T, s.K, w.tensor.data, dt, b.tensor.ptr<float>(), got.tensor.ptr<float>(), s.N);
        EXPECT_LE(max_rel(got.tensor, bf16 ? rounded.tensor : exact.tensor), 4e-6)
            << rung.name << " " << dtype_name(dt) << " T=" << s.T << " K=" << s.K << " N=" << s.N;
      }
    }
}

// `--precision bf16` attention: q·scale, K and V rounded to bf16, P rounded to bf16 before P·V, F32
// sums. Against the exact attention of the rounded q·scale, K and V, only P's rounding remains: each
// weight is off by at most 2⁻⁹ relative and the weights sum to 1, so |Δout| <= 2⁻⁹·max|v| (2⁻⁸ held).
// Dh = 136 (over 8 vectors) and T < 4 take the F32 kernel.
TEST(Kernels, Bf16AttentionBoundedByPRounding) {
  if (!cpu::cpu_features().avx512_bf16 || !cpu::best_isa().attention_bf16) GTEST_SKIP() << "no AVX512_BF16 attention here";
  struct Shape {
    int64_t T, S, H, Hkv, Dh, offset;
  };
  const std::vector<Shape> shapes = {{17, 40, 4, 2, 64, 23},  {33, 33, 3, 3, 72, 0},     {20, 20, 2, 1, 24, ops::kNonCausal},
                                     {77, 77, 2, 2, 72, ops::kNonCausal}, {50, 130, 4, 1, 64, 80}, {9, 140, 6, 2, 136, 131},
                                     {5, 9, 2, 2, 7, 4},      {2, 30, 2, 1, 64, 28},    {40, 300, 2, 1, 64, ops::kNonCausal},
                                     {24, 300, 4, 2, 72, 276}, {24, 100, 2, 1, 72, ops::kNonCausal},
                                     {20, 100, 2, 2, 64, 80}};
  for (const Shape& s : shapes) {
    OwnedTensor q = random_f32({s.T, s.H, s.Dh}), k = random_f32({s.S, s.Hkv, s.Dh}), v = random_f32({s.S, s.Hkv, s.Dh});
    if (s.S == 300)  // keys growing along S: scores reach tens, so later key tiles move the softmax's reference
      for (int64_t j = 0; j < s.S; ++j)
        for (int64_t i = 0; i < s.Hkv * s.Dh; ++i) k.tensor.ptr<float>()[j * s.Hkv * s.Dh + i] *= 0.2f + 0.1f * j;
    if (s.S == 100)  // scores spread over hundreds: most e^(s - m) underflow (2^t, t far below -126) to 0
      for (int64_t i = 0; i < k.tensor.numel(); ++i) k.tensor.ptr<float>()[i] *= 300.0f;
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.Dh));
    OwnedTensor qs = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh});
    for (int64_t i = 0; i < qs.tensor.numel(); ++i) qs.tensor.ptr<float>()[i] = q.tensor.ptr<float>()[i] * scale;
    const bool bf16 = s.T >= 4 && s.Dh <= 128;
    OwnedTensor want = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh}), got = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh});
    if (bf16)
      ref::attention(bf16_rounded(qs.tensor).tensor, bf16_rounded(k.tensor).tensor, bf16_rounded(v.tensor).tensor,
                     want.tensor, 1.0f, s.offset);
    else
      ref::attention(q.tensor, k.tensor, v.tensor, want.tensor, scale, s.offset);
    const int64_t group = s.H / s.Hkv;
    for (int64_t g = 0; g < s.Hkv; ++g)
      cpu::best_isa().attention_bf16(q.tensor.ptr<float>() + g * group * s.Dh, s.T, s.H * s.Dh, group, s.Dh,
                                k.tensor.ptr<float>() + g * s.Dh, v.tensor.ptr<float>() + g * s.Dh, s.Hkv * s.Dh, s.S,
                                s.Dh, scale, s.offset, got.tensor.ptr<float>() + g * group * s.Dh, s.H * s.Dh, s.Dh);
    double max_v = 0, max_d = 0;
    for (int64_t i = 0; i < v.tensor.numel(); ++i) max_v = std::max(max_v, std::fabs(double(v.tensor.ptr<float>()[i])));
    for (int64_t i = 0; i < want.tensor.numel(); ++i)
      max_d = std::max(max_d, std::fabs(double(got.tensor.ptr<float>()[i]) - want.tensor.ptr<float>()[i]));
    EXPECT_TRUE(std::isfinite(max_d)) << "T=" << s.T << " S=" << s.S << " Dh=" << s.Dh;
    EXPECT_LE(max_d, (bf16 ? 3.9e-3 : 3e-6) * max_v) << "T=" << s.T << " S=" << s.S << " Dh=" << s.Dh;
    if (bf16) {
      EXPECT_GT(max_d, 0.0) << "P is rounded to bf16: some difference must show";
    }
  }
}

// Every rung of the attention ladder (attention.h) this CPU runs, by name, against the reference: GQA,
// causal with an offset (prefill after a cache), non-causal, tails of query blocks and key tiles.
// F32 rungs to summation error; flash-bf16 to its P-rounding bound on bf16-rounded inputs (see above).
TEST(Kernels, AttentionLadderEveryRungMatchesReference) {
  const std::vector<cpu::AttentionRung> ladder = cpu::attention_ladder();
  for (const char* name : {"rows-generic", "flash-generic"})
    EXPECT_NE(cpu::find_rung(ladder, name), nullptr) << name;
  EXPECT_EQ(cpu::find_rung(ladder, "no-such-rung"), nullptr);
  struct Shape {
    int64_t T, S, H, Hkv, Dh, offset;
  };
  const std::vector<Shape> shapes = {{17, 40, 4, 2, 64, 23}, {33, 33, 2, 2, 72, ops::kNonCausal}, {2, 30, 6, 2, 64, 28},
                                     {45, 45, 4, 1, 24, 0}};
  for (const Shape& s : shapes) {
    OwnedTensor q = random_f32({s.T, s.H, s.Dh}), k = random_f32({s.S, s.Hkv, s.Dh}), v = random_f32({s.S, s.Hkv, s.Dh});
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.Dh));
    OwnedTensor exact = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh}), rounded = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh});
    ref::attention(q.tensor, k.tensor, v.tensor, exact.tensor, scale, s.offset);
    OwnedTensor qs = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh});
    for (int64_t i = 0; i < qs.tensor.numel(); ++i) qs.tensor.ptr<float>()[i] = q.tensor.ptr<float>()[i] * scale;
    ref::attention(bf16_rounded(qs.tensor).tensor, bf16_rounded(k.tensor).tensor, bf16_rounded(v.tensor).tensor,
                   rounded.tensor, 1.0f, s.offset);
    for (const cpu::AttentionRung& rung : ladder) {
      const bool bf16 = rung.name == "flash-bf16" && s.T >= 4;
      OwnedTensor got = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh});
      rung.run(q.tensor, k.tensor, v.tensor, got.tensor, scale, s.offset);
      EXPECT_LE(max_rel(got.tensor, bf16 ? rounded.tensor : exact.tensor), bf16 ? 2e-2 : 3e-6)
          << rung.name << " T=" << s.T << " S=" << s.S << " Dh=" << s.Dh;
    }
  }
}

TEST(Kernels, ArgmaxFirstMaximumNaNLargest) {
  OwnedTensor x = random_f32({50});
  float* p = x.tensor.ptr<float>();
  p[10] = 9.0f;
  p[30] = 9.0f;
  EXPECT_EQ(ops::argmax(x.tensor), 10);  // ties: the first
  p[40] = std::nanf("");
  p[45] = std::nanf("");
  EXPECT_EQ(ops::argmax(x.tensor), 40);  // NaN counts as the largest (torch.argmax)
}

TEST(Kernels, IsaDotAxpyConvert) {
  for (const cpu::IsaKernels* isa : isa_tables()) {
    for (int64_t n : {1, 7, 16, 33, 64, 72, 129, 1000}) {
      OwnedTensor a = random_f32({n}), b = random_f32({n});
      double want = 0;
      for (int64_t i = 0; i < n; ++i) want += static_cast<double>(a.tensor.ptr<float>()[i]) * b.tensor.ptr<float>()[i];
      EXPECT_NEAR(isa->dot(a.tensor.ptr<float>(), b.tensor.ptr<float>(), n), want, 1e-5 * std::sqrt(n)) << isa->name;
      std::vector<float> y(b.tensor.ptr<float>(), b.tensor.ptr<float>() + n);
      isa->axpy(0.5f, a.tensor.ptr<float>(), y.data(), n);
      for (int64_t i = 0; i < n; ++i)
        EXPECT_NEAR(y[i], b.tensor.ptr<float>()[i] + 0.5f * a.tensor.ptr<float>()[i], 1e-6) << isa->name;
      for (DType dt : {DType::F16, DType::BF16, DType::F32}) {
        OwnedTensor w = random_weight(dt, {n}, 3.0f);
        std::vector<float> got(n), want_f(n);
        isa->to_f32(w.tensor.data, dt, got.data(), n);
        convert_to_f32(w.tensor.data, dt, want_f.data(), static_cast<size_t>(n));
        EXPECT_EQ(got, want_f) << isa->name << " " << dtype_name(dt);  // conversions are exact
      }
    }
  }
}

// Every binary16 bit pattern (zeros, subnormals, normals, Inf, NaN payloads; both signs) widens to the
// same F32 bits in every table as the scalar f16_to_f32, except that a signalling NaN comes out quiet
// (its payload kept): vcvtph2ps, and the generic table's integer bit moves (f16_lanes).
TEST(Kernels, IsaF16ToF32ExactForEveryPattern) {
  std::vector<uint16_t> all(65536 + 5);  // + a tail past the last whole vector
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  for (const cpu::IsaKernels* isa : isa_tables()) {
    std::vector<float> got(all.size());
    isa->to_f32(all.data(), DType::F16, got.data(), static_cast<int64_t>(all.size()));
    int wrong = 0;
    for (size_t i = 0; i < all.size(); ++i) {
      const float want = f16_to_f32(all[i]);
      uint32_t g, w;
      std::memcpy(&g, &got[i], 4);
      std::memcpy(&w, &want, 4);
      if (std::isnan(want)) w |= 0x00400000u;
      if (g != w && ++wrong <= 3) ADD_FAILURE() << isa->name << " f16 0x" << std::hex << all[i] << ": 0x" << g << " want 0x" << w;
    }
    EXPECT_EQ(wrong, 0) << isa->name;
  }
}

TEST(Kernels, IsaFlashAttentionAndActivationsAllTables) {
  // Dh from 1 to 136 covers the register-tiled widths of every ISA and the column-by-column fallback;
  // T and S cross the 16-query blocks and key tiles with tails; offsets cover prefill after a cache.
  const std::vector<AttentionShape> shapes = {{1, 1, 1, 1, 1, 0},    {3, 3, 2, 1, 5, 0},     {17, 40, 4, 2, 64, 23},
                                     {33, 33, 3, 3, 72, 0}, {2, 130, 6, 2, 136, 128}, {9, 140, 6, 2, 136, 131}, {20, 20, 2, 1, 24, ops::kNonCausal},
                                     {1, 775, 24, 6, 64, 774}};
  for (const cpu::IsaKernels* isa : isa_tables()) {
    expect_table_attention_matches_reference(*isa, shapes);
    OwnedTensor x = random_f32({1000}, 5.0f), g = random_f32({1000}, 5.0f), u = random_f32({1000});
    OwnedTensor want = OwnedTensor::empty(DType::F32, {1000});
    // The ends of the exp inside (overflow to +inf, the flush to 0 below -87.3), not only its middle.
    // Checked one by one below: max_rel alone would not see these tiny or exact values.
    const float x_ends[] = {-1e20f, 1e20f, -60.0f, 60.0f}, g_ends[] = {-200.0f, 200.0f, -88.0f, 89.0f, -87.0f};
    std::copy_n(x_ends, 4, x.tensor.ptr<float>() + 1);
    std::copy_n(g_ends, 5, g.tensor.ptr<float>() + 1);
    std::copy_n(x.tensor.ptr<float>(), 1000, want.tensor.ptr<float>());
    ref::gelu_tanh(want.tensor);
    isa->gelu_tanh(x.tensor.ptr<float>(), 1000);
    EXPECT_LE(max_rel(x.tensor, want.tensor), 3e-7) << isa->name;
    for (int i = 1; i <= 4; ++i) EXPECT_EQ(x.tensor.ptr<float>()[i], want.tensor.ptr<float>()[i]) << isa->name << " gelu_tanh(" << x_ends[i - 1] << ")";
    // gelu_erf (PyTorch's formula rounds 1 + erf(x/√2) to 0 for x ≪ 0; ours keeps a tiny value).
    OwnedTensor e = random_f32({1000}, 3.0f), e_ref = OwnedTensor::empty(DType::F32, {1000});
    e.tensor.ptr<float>()[0] = -9.0f;
    std::copy_n(e.tensor.ptr<float>(), 1000, e_ref.tensor.ptr<float>());
    ref::gelu_erf(e_ref.tensor);
    isa->gelu_erf(e.tensor.ptr<float>(), 1000);
    EXPECT_LE(max_rel(e.tensor, e_ref.tensor), 3e-7) << isa->name;
    EXPECT_NEAR(e.tensor.ptr<float>()[0], 0.0f, 1e-15) << isa->name;
    OwnedTensor gu = OwnedTensor::empty(DType::F32, {1, 2000}), o1 = OwnedTensor::empty(DType::F32, {1, 1000}),
                o2 = OwnedTensor::empty(DType::F32, {1000});
    std::copy_n(g.tensor.ptr<float>(), 1000, gu.tensor.ptr<float>());
    std::copy_n(u.tensor.ptr<float>(), 1000, gu.tensor.ptr<float>() + 1000);
    ref::silu_mul(gu.tensor, o1.tensor);
    isa->silu_mul(g.tensor.ptr<float>(), u.tensor.ptr<float>(), o2.tensor.ptr<float>(), 1000);
    EXPECT_LE(max_rel(o2.tensor, o1.tensor.reshape({1000})), 3e-7) << isa->name;
    for (int i = 1; i <= 5; ++i) {
      const float got_i = o2.tensor.ptr<float>()[i], want_i = o1.tensor.ptr<float>()[i];
      EXPECT_LE(std::fabs(got_i - want_i), 3e-7 * std::fabs(want_i)) << isa->name << " silu(" << g_ends[i - 1] << ")";
    }
  }
}

TEST(Kernels, OpsMatchReferenceAtModelShapes) {
  // SigLIP-like and OpenELM-like shapes, reduced in T to keep the reference quick.
  const std::vector<MatmulShape> shapes = {{51, 1152, 1152}, {51, 1152, 4304}, {3, 1536, 1152}, {1, 1536, 6144}};
  for (const MatmulShape& s : shapes) {
    OwnedTensor x = random_f32({s.T, s.K}), w = random_weight(DType::F16, {s.N, s.K}, 0.03f);
    OwnedTensor want = OwnedTensor::empty(DType::F32, {s.T, s.N}), got = OwnedTensor::empty(DType::F32, {s.T, s.N});
    ref::matmul(x.tensor, w.tensor, nullptr, want.tensor);
    ops::matmul(kCpu, x.tensor, w.tensor, nullptr, got.tensor);
    EXPECT_LE(max_rel(got.tensor, want.tensor), 2e-6) << "T=" << s.T << " K=" << s.K << " N=" << s.N;
  }
}

// Every table's row norms against kernels/rows.h (the reference's), including rows far from zero mean
// (the variance then rests on F64 statistics) and the in-place RMSNorm.
TEST(Kernels, RowNormsEveryTableMatchReference) {
  for (const cpu::IsaKernels* isa : isa_tables())
    for (int64_t D : {1, 5, 17, 64, 72, 1152, 1537})
      for (float offset : {0.0f, 100.0f}) {
        OwnedTensor x = random_f32({1, D}, 3.0f), w = random_f32({D}), b = random_f32({D});
        for (int64_t i = 0; i < D; ++i) x.tensor.ptr<float>()[i] += offset;
        std::vector<float> want(static_cast<size_t>(D)), got(static_cast<size_t>(D));
        const float* xp = x.tensor.ptr<float>();
        layernorm_row(xp, w.tensor.ptr<float>(), b.tensor.ptr<float>(), D, 1e-6f, want.data());
        isa->layernorm_row(xp, w.tensor.ptr<float>(), b.tensor.ptr<float>(), D, 1e-6f, got.data());
        EXPECT_LE(tl::test::max_rel_error(got.data(), want.data(), want.size()), 1e-6) << isa->name << " layernorm D=" << D;
        rmsnorm_row(xp, w.tensor.ptr<float>(), D, 1e-6f, want.data());
        isa->rmsnorm_row(xp, w.tensor.ptr<float>(), D, 1e-6f, got.data());
        EXPECT_LE(tl::test::max_rel_error(got.data(), want.data(), want.size()), 1e-6) << isa->name << " rmsnorm D=" << D;
        isa->rmsnorm_row(x.tensor.ptr<float>(), w.tensor.ptr<float>(), D, 1e-6f, x.tensor.ptr<float>());  // in place
        EXPECT_LE(tl::test::max_rel_error(x.tensor.ptr<float>(), want.data(), want.size()), 1e-6) << isa->name;
      }
}

TEST(Kernels, NormsAndActivations) {
  for (int64_t D : {1, 5, 64, 72, 1152, 1537}) {
    OwnedTensor x = random_f32({7, D}, 3.0f), w = random_weight(DType::BF16, {D}, 1.0f), b = random_weight(DType::F16, {D}, 1.0f);
    OwnedTensor want = OwnedTensor::empty(DType::F32, {7, D}), got = OwnedTensor::empty(DType::F32, {7, D});
    ref::layernorm(x.tensor, w.tensor, b.tensor, 1e-6f, want.tensor);
    ops::layernorm(kCpu, x.tensor, w.tensor, b.tensor, 1e-6f, got.tensor);
    EXPECT_LE(max_rel(got.tensor, want.tensor), 1e-6) << "layernorm D=" << D;
    ref::rmsnorm(x.tensor, w.tensor, 1e-6f, want.tensor);
    ops::rmsnorm(kCpu, x.tensor, w.tensor, 1e-6f, got.tensor);
    EXPECT_LE(max_rel(got.tensor, want.tensor), 1e-6) << "rmsnorm D=" << D;
    ops::rmsnorm(kCpu, x.tensor, w.tensor, 1e-6f, x.tensor);  // in place
    EXPECT_LE(max_rel(x.tensor, want.tensor), 1e-6);
  }
  OwnedTensor a = random_f32({3, 1001}, 4.0f);
  using Fn = void (*)(Tensor&);
  using OpFn = void (*)(const ops::Context&, Tensor&);
  const Fn refs[] = {ref::gelu_tanh, ref::gelu_erf, ref::silu};
  const OpFn cpus[] = {ops::gelu_tanh, ops::gelu_erf, ops::silu};
  for (int i = 0; i < 3; ++i) {
    OwnedTensor r = random_f32({3, 1001}), c = random_f32({3, 1001});
    std::copy_n(a.tensor.ptr<float>(), a.tensor.numel(), r.tensor.ptr<float>());
    std::copy_n(a.tensor.ptr<float>(), a.tensor.numel(), c.tensor.ptr<float>());
    refs[i](r.tensor);
    cpus[i](kCpu, c.tensor);
    EXPECT_LE(max_rel(c.tensor, r.tensor), 1e-7) << "activation " << i;
  }
  OwnedTensor gu = random_f32({5, 2 * 333}), want = OwnedTensor::empty(DType::F32, {5, 333}), got = OwnedTensor::empty(DType::F32, {5, 333});
  ref::silu_mul(gu.tensor, want.tensor);
  ops::silu_mul(kCpu, gu.tensor, got.tensor);
  EXPECT_LE(max_rel(got.tensor, want.tensor), 1e-7);
}

TEST(Kernels, RopeMatchesReferenceAndRotates) {
  ops::RopeTable table = ops::RopeTable::make(64, 10000.0, 4096);
  OwnedTensor x = random_f32({9, 5, 64}), y = random_f32({9, 5, 64});
  std::copy_n(x.tensor.ptr<float>(), x.tensor.numel(), y.tensor.ptr<float>());
  ref::rope(x.tensor, 2040, table);
  ops::rope(kCpu, y.tensor, 2040, table);
  EXPECT_EQ(max_rel(y.tensor, x.tensor), 0.0);  // same formula, no FMA: bit-identical
  // Position 0 is the identity; a rotation keeps each pair's norm.
  OwnedTensor z = random_f32({1, 1, 64});
  std::vector<float> before(z.tensor.ptr<float>(), z.tensor.ptr<float>() + 64);
  ops::rope(kCpu, z.tensor, 0, table);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(z.tensor.ptr<float>()[i], before[i]);
  EXPECT_FLOAT_EQ(table.cos[0], 1.0f);
  EXPECT_NEAR(table.sin[1 * 32 + 0], std::sin(1.0), 1e-7);  // inv_freq[0] = 1
}

TEST(Kernels, AttentionCausalGqaAndNonCausal) {
  struct Shape {
    int64_t T, S, H, Hkv, Dh, offset;
  };
  const std::vector<Shape> shapes = {{1, 1, 1, 1, 8, 0},     {5, 5, 4, 1, 16, 0},   {3, 10, 6, 2, 64, 7},
                                     {1, 33, 12, 3, 64, 32}, {17, 17, 16, 16, 72, ops::kNonCausal},
                                     {7, 12, 8, 4, 24, ops::kNonCausal}};
  for (const Shape& s : shapes) {
    OwnedTensor q = random_f32({s.T, s.H, s.Dh}), k = random_f32({s.S, s.Hkv, s.Dh}), v = random_f32({s.S, s.Hkv, s.Dh});
    OwnedTensor want = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh}), got = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh});
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.Dh));
    ref::attention(q.tensor, k.tensor, v.tensor, want.tensor, scale, s.offset);
    ops::attention(kCpu, q.tensor, k.tensor, v.tensor, got.tensor, scale, s.offset);
    EXPECT_LE(max_rel(got.tensor, want.tensor), 2e-6) << "T=" << s.T << " S=" << s.S << " H=" << s.H;
  }
  // The first query of a causal prefill sees only key 0: its output is exactly v[0] of its KV head.
  OwnedTensor q = random_f32({4, 4, 8}), k = random_f32({4, 2, 8}), v = random_f32({4, 2, 8}), o = random_f32({4, 4, 8});
  ops::attention(kCpu, q.tensor, k.tensor, v.tensor, o.tensor, 0.3f, 0);
  for (int h = 0; h < 4; ++h)
    for (int d = 0; d < 8; ++d) EXPECT_FLOAT_EQ(o.tensor.ptr<float>()[h * 8 + d], v.tensor.ptr<float>()[(h / 2) * 8 + d]);
}

TEST(Kernels, PatchEmbedAndEmbed) {
  for (auto [C, S, D, p] : std::vector<std::array<int64_t, 4>>{{3, 28, 16, 14}, {3, 64, 24, 14}, {3, 60, 10, 12}, {1, 9, 4, 3}}) {
    OwnedTensor px = random_f32({C, S, S}), w = random_weight(DType::F16, {D, C, p, p}, 0.1f), b = random_f32({D});
    const int64_t grid = (S - p) / p + 1;
    OwnedTensor want = OwnedTensor::empty(DType::F32, {grid * grid, D}), got = OwnedTensor::empty(DType::F32, {grid * grid, D});
    ref::patch_embed(px.tensor, w.tensor, b.tensor, want.tensor);
    ops::patch_embed(kCpu, px.tensor, w.tensor, b.tensor, got.tensor);
    EXPECT_LE(max_rel(got.tensor, want.tensor), 2e-6) << "S=" << S << " p=" << p;
  }
  OwnedTensor table = random_weight(DType::BF16, {50, 33}, 1.0f);
  const int ids[] = {0, 49, 7, 7};
  OwnedTensor want = OwnedTensor::empty(DType::F32, {4, 33}), got = OwnedTensor::empty(DType::F32, {4, 33});
  ref::embed(table.tensor, ids, 4, want.tensor);
  ops::embed(kCpu, table.tensor, ids, 4, got.tensor);
  EXPECT_EQ(max_rel(got.tensor, want.tensor), 0.0);
}

TEST(Kernels, PreconditionsAreCheckedNotAssumed) {
  OwnedTensor x = random_f32({3, 8}), w = random_weight(DType::F16, {5, 9}, 1.0f), y = OwnedTensor::empty(DType::F32, {3, 5});
  EXPECT_THROW(ops::matmul(kCpu, x.tensor, w.tensor, nullptr, y.tensor), Error);
  OwnedTensor q = random_f32({2, 3, 8}), k = random_f32({2, 2, 8});
  EXPECT_THROW(ops::attention(kCpu, q.tensor, k.tensor, k.tensor, q.tensor, 1.0f, 0), Error);  // 3 heads over 2 KV heads
}

// Decode GEMV (gemv.inc, the T <= kGemvMaxRows path of every table's gemm): tails of every unrolled step and of
// the prefetch (K from 1 to past a 4 KiB row), a row sub-range at both ends of the matrix, the real
// decode shapes (the largest layer's QKV and FFN out, the output head), and K >= 4096 (rows of x of
// 16 KiB and more, where x and the weight stream share L1) in ranges of 0 to 4 rows, on every table
// and dtype.
TEST(Kernels, DecodeGemvTailsRangesAndModelShapesAllTables) {
  const std::vector<MatmulShape> shapes = {{1, 1, 3},    {1, 15, 7},     {1, 63, 5},     {1, 65, 9},
                                           {1, 2047, 3}, {1, 2049, 17},  {2, 129, 33},   {3, 1537, 19},
                                           {1, 1536, 2304}, {1, 6144, 1536}, {1, 4097, 7},   {1, 4111, 1},
                                           {1, 4096, 4}};
  for (DType dt : {DType::F16, DType::BF16, DType::F32})
    for (const MatmulShape& s : shapes) {
      if (dt == DType::F32 && s.K * s.N > 4000000) continue;  // the F16 / BF16 weights are the real ones
      OwnedTensor x = random_f32({s.T, s.K}), w = random_weight(dt, {s.N, s.K}, 0.1f), b = random_f32({s.N});
      OwnedTensor want = OwnedTensor::empty(DType::F32, {s.T, s.N}), got = OwnedTensor::empty(DType::F32, {s.T, s.N});
      ref::matmul(x.tensor, w.tensor, &b.tensor, want.tensor);
      for (const cpu::IsaKernels* isa : isa_tables()) {
        const int64_t mid = s.N / 2;  // two ranges, as two threads split the rows
        isa->gemm(x.tensor.ptr<float>(), s.T, s.K, w.tensor.data, dt, b.tensor.ptr<float>(), got.tensor.ptr<float>(),
                  s.N, 0, mid);
        isa->gemm(x.tensor.ptr<float>(), s.T, s.K, w.tensor.data, dt, b.tensor.ptr<float>(), got.tensor.ptr<float>(),
                  s.N, mid, s.N);
        EXPECT_LE(max_rel(got.tensor, want.tensor), 2e-6)
            << isa->name << " " << dtype_name(dt) << " T=" << s.T << " K=" << s.K << " N=" << s.N;
      }
    }
  // Through ops::matmul (threads over rows) at the output head's shape, F16.
  OwnedTensor x = random_f32({1, 1536}), w = random_weight(DType::F16, {32000, 1536}, 0.02f);
  OwnedTensor want = OwnedTensor::empty(DType::F32, {1, 32000}), got = OwnedTensor::empty(DType::F32, {1, 32000});
  ref::matmul(x.tensor, w.tensor, nullptr, want.tensor);
  ops::matmul(kCpu, x.tensor, w.tensor, nullptr, got.tensor);
  EXPECT_LE(max_rel(got.tensor, want.tensor), 2e-6);
}

// The batched decode GEMV: every row of a T-row call (T = 2 .. kGemvMaxRows, whole groups of rows
// and their remainders) is bit for bit the single-row result, on every table and dtype, so a
// sequence's tokens do not depend on the sequences it is batched with.
TEST(Kernels, BatchedGemvRowsEqualSingleRowsExactlyAllTables) {
  for (DType dt : {DType::F16, DType::BF16, DType::F32})
    for (int64_t K : {1, 37, 64, 1537, 4100}) {
      const int64_t N = 21, T = cpu::kGemvMaxRows;
      OwnedTensor x = random_f32({T, K}), w = random_weight(dt, {N, K}, 0.1f), b = random_f32({N});
      for (const cpu::IsaKernels* isa : isa_tables()) {
        std::vector<float> alone(static_cast<size_t>(T * N));
        for (int64_t t = 0; t < T; ++t)
          isa->gemm(x.tensor.ptr<float>() + t * K, 1, K, w.tensor.data, dt, b.tensor.ptr<float>(), &alone[t * N], N, 0, N);
        for (int64_t rows = 2; rows <= T; ++rows) {
          std::vector<float> batched(static_cast<size_t>(rows * N));
          isa->gemm(x.tensor.ptr<float>(), rows, K, w.tensor.data, dt, b.tensor.ptr<float>(), batched.data(), N, 0, N);
          for (int64_t i = 0; i < rows * N; ++i)
            ASSERT_EQ(batched[i], alone[i]) << isa->name << " " << dtype_name(dt) << " K=" << K << " rows=" << rows
                                            << " at " << i;
        }
      }
    }
}

// Decode attention (attention_decode.inc, the T < 4 path of every table): the key tails of the
// kLanes-key score blocks (S = 1 .. 2·16 + 1), T = 1 .. 3 with their causal limits, groups of 1 to 6
// query heads (more than the 4 the value pass holds in registers), Dh on the fast path (64, 128) and
// off it (24, 72: attention_rows), non-causal, and the real decode shape.
TEST(Kernels, DecodeAttentionKeyTailsGroupsAndHeadSizesAllTables) {
  std::vector<AttentionShape> shapes;
  for (int64_t S : {1, 2, 15, 16, 17, 31, 32, 33}) shapes.push_back({1, S, 4, 1, 64, S - 1});
  for (int64_t T : {1, 2, 3}) shapes.push_back({T, 40, 6, 2, 64, 40 - T});
  for (int64_t group : {1, 2, 3, 5, 6}) shapes.push_back({1, 50, group * 2, 2, 64, 49});
  shapes.push_back({1, 70, 4, 2, 128, 69});
  shapes.push_back({1, 70, 4, 2, 24, 69});
  shapes.push_back({2, 70, 4, 2, 72, 68});
  shapes.push_back({1, 37, 4, 1, 64, ops::kNonCausal});
  shapes.push_back({1, 930, 24, 6, 64, 929});
  for (const cpu::IsaKernels* isa : isa_tables()) expect_table_attention_matches_reference(*isa, shapes);
}

// ops::attention at T < 4 splits the query heads over the threads, so a KV head's group can be cut
// between two threads (H = 12 over 3 KV heads on 2 threads: 6 + 6); every thread count agrees.
TEST(Kernels, DecodeAttentionQueryHeadSplitAnyThreadCount) {
  const int64_t S = 100, H = 12, Hkv = 3, Dh = 64;
  OwnedTensor q = random_f32({1, H, Dh}), k = random_f32({S, Hkv, Dh}), v = random_f32({S, Hkv, Dh});
  OwnedTensor want = OwnedTensor::empty(DType::F32, {1, H, Dh});
  ref::attention(q.tensor, k.tensor, v.tensor, want.tensor, 0.125f, S - 1);
  for (int threads : {1, 2, 3, 5, 7}) {
    ops::Options o;
    o.threads = threads;
    const ops::Context c(o);
    OwnedTensor got = OwnedTensor::empty(DType::F32, {1, H, Dh});
    ops::attention(c, q.tensor, k.tensor, v.tensor, got.tensor, 0.125f, S - 1);
    EXPECT_LE(max_rel(got.tensor, want.tensor), 3e-6) << threads << " threads";
  }
}

// Prefill attention (T >= 4) cuts each KV head's query rows into runs of equal work when the KV heads
// do not divide among the threads (3 KV heads on 2 threads: 6 tasks, not 3). A row's result must not
// depend on the cut: every thread count gives the single-thread bits, on the F32 and bf16 kernels,
// causal from an empty cache, causal after a prefix, and non-causal.
TEST(Kernels, PrefillAttentionRowRunsAnyThreadCount) {
  const int64_t H = 12, Hkv = 3, Dh = 64;
  const struct {
    int64_t T, S, offset;
  } shapes[] = {{100, 100, 0}, {83, 150, 67}, {70, 90, ops::kNonCausal}, {35, 35, 0}};
  for (ops::Precision precision : {ops::Precision::F32, ops::Precision::BF16}) {
    for (const auto& sh : shapes) {
      OwnedTensor q = random_f32({sh.T, H, Dh}), k = random_f32({sh.S, Hkv, Dh}), v = random_f32({sh.S, Hkv, Dh});
      ops::Options one;
      one.threads = 1;
      one.precision = precision;
      OwnedTensor want = OwnedTensor::empty(DType::F32, {sh.T, H, Dh});
      ops::attention(ops::Context(one), q.tensor, k.tensor, v.tensor, want.tensor, 0.125f, sh.offset);
      OwnedTensor exact = OwnedTensor::empty(DType::F32, {sh.T, H, Dh});
      ref::attention(q.tensor, k.tensor, v.tensor, exact.tensor, 0.125f, sh.offset);
      EXPECT_LE(max_rel(want.tensor, exact.tensor), precision == ops::Precision::F32 ? 3e-6 : 3e-2);
      for (int threads : {2, 3, 4, 7, 16}) {
        ops::Options o = one;
        o.threads = threads;
        OwnedTensor got = OwnedTensor::empty(DType::F32, {sh.T, H, Dh});
        ops::attention(ops::Context(o), q.tensor, k.tensor, v.tensor, got.tensor, 0.125f, sh.offset);
        EXPECT_EQ(std::memcmp(got.tensor.data, want.tensor.data, static_cast<size_t>(sh.T * H * Dh) * sizeof(float)), 0)
            << ops::precision_name(precision) << " T " << sh.T << " S " << sh.S << ", " << threads << " threads";
      }
    }
  }
}

// Decode's GEMV rows are split in proportion to each thread's measured rate (kernels/cpu/gemm.cpp), so
// the split moves from call to call; with more threads than cores the rates differ a lot. Every call
// must still give each output exactly as one thread computes it: no row lost, doubled or summed
// differently, at row counts that do and do not fill whole panels.
TEST(Kernels, DecodeGemvSplitByRateNeverChangesTheResult) {
  ops::Options one;
  one.threads = 1;
  const ops::Context serial(one);
  for (int64_t N : {5, 37, 1000}) {
    const int64_t K = 301;
    OwnedTensor x = random_f32({1, K}), w = random_weight(DType::F16, {N, K}, 0.05f), bias = random_f32({N});
    OwnedTensor want = OwnedTensor::empty(DType::F32, {1, N});
    ops::matmul(serial, x.tensor, w.tensor, &bias.tensor, want.tensor);
    for (int threads : {2, 3, 5}) {
      ops::Options o;
      o.threads = threads;
      const ops::Context c(o);
      for (int call = 0; call < 40; ++call) {
        OwnedTensor got = OwnedTensor::empty(DType::F32, {1, N});
        ops::matmul(c, x.tensor, w.tensor, &bias.tensor, got.tensor);
        ASSERT_EQ(std::memcmp(got.tensor.data, want.tensor.data, static_cast<size_t>(N) * sizeof(float)), 0)
            << "N " << N << ", " << threads << " threads, call " << call;
      }
    }
  }
}

// A thread count past what the pool can serve is an input error, not a hang (the C API passes it
// through unchecked).
TEST(Kernels, ContextRefusesAbsurdThreadCounts) {
  ops::Options o;
  o.threads = 70000;
  EXPECT_THROW(ops::Context{o}, Error);
  o.threads = 3;
  EXPECT_EQ(ops::Context{o}.threads(), 3);
}

// An F16 KV cache (the bf16 path's): every table's decode kernel and ops::attention at decode and
// prefill sizes read its exact values — against the reference on the same F16 tensors, to F32
// summation error; ops::convert rounds F32 into it to nearest even.
TEST(Kernels, AttentionOnAnF16CacheMatchesReference) {
  auto f16_of = [](const OwnedTensor& f) {
    OwnedTensor h = OwnedTensor::empty(DType::F16, f.tensor.shape_vec());
    Tensor dst = h.tensor;
    ops::convert(ops::Context{}, f.tensor, dst);
    return h;
  };
  std::vector<AttentionShape> shapes = {{1, 930, 24, 6, 64, 929}, {1, 37, 4, 1, 64, 36}, {2, 70, 4, 2, 72, 68},
                                        {3, 50, 6, 2, 32, 47},   {1, 33, 4, 2, 128, 32}, {7, 40, 6, 3, 64, 33},
                                        {1, 20, 4, 2, 24, ops::kNonCausal}};
  for (const AttentionShape& s : shapes) {
    OwnedTensor q = random_f32({s.T, s.H, s.Dh}), kf = random_f32({s.S, s.Hkv, s.Dh}), vf = random_f32({s.S, s.Hkv, s.Dh});
    const OwnedTensor k = f16_of(kf), v = f16_of(vf);
    for (int64_t i = 0; i < kf.tensor.numel(); ++i)  // the copy rounded to nearest even
      ASSERT_EQ(k.tensor.ptr<uint16_t>()[i], f32_to_f16(kf.tensor.ptr<float>()[i]));
    const float scale = 1.0f / std::sqrt(static_cast<float>(s.Dh));
    OwnedTensor want = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh});
    ref::attention(q.tensor, k.tensor, v.tensor, want.tensor, scale, s.offset);
    const int64_t group = s.H / s.Hkv;
    if (s.T < 4)
      for (const cpu::IsaKernels* isa : isa_tables()) {
        OwnedTensor got = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh});
        for (int64_t g = 0; g < s.Hkv; ++g)
          isa->attention_f16kv(q.tensor.ptr<float>() + g * group * s.Dh, s.T, s.H * s.Dh, group, s.Dh,
                               k.tensor.ptr<uint16_t>() + g * s.Dh, v.tensor.ptr<uint16_t>() + g * s.Dh, s.Hkv * s.Dh,
                               s.S, s.Dh, scale, s.offset, got.tensor.ptr<float>() + g * group * s.Dh, s.H * s.Dh, s.Dh);
        EXPECT_LE(max_rel(got.tensor, want.tensor), 3e-6) << isa->name << " T=" << s.T << " S=" << s.S << " Dh=" << s.Dh;
      }
    for (int threads : {1, 2, 3}) {
      ops::Options o;
      o.threads = threads;
      OwnedTensor got = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh});
      ops::attention(ops::Context(o), q.tensor, k.tensor, v.tensor, got.tensor, scale, s.offset);
      EXPECT_LE(max_rel(got.tensor, want.tensor), 3e-6) << "ops T=" << s.T << " S=" << s.S << " threads=" << threads;
    }
  }
}

// A KV cache layer on the CPU is head-major (ops::kv_cache_shape). Rows written with kv_write at two
// offsets, copied into a larger layer with kv_copy, and read by attention_cached give exactly what
// ops::attention gives on the same keys laid out position-major — the kernels are the same, only the
// strides differ — for F32 and F16 caches, decode and prefill row counts, every precision, and the
// reference context (which gathers the positions first).
TEST(Kernels, HeadMajorKvCacheMatchesPositionMajorAttention) {
  const std::vector<AttentionShape> shapes = {{1, 930, 24, 6, 64, 929}, {2, 70, 4, 2, 72, 68}, {17, 40, 6, 3, 64, 23},
                                              {33, 33, 4, 1, 72, 0},     {5, 9, 2, 2, 7, 4},    {1, 20, 4, 2, 24, 19}};
  for (DType dt : {DType::F32, DType::F16})
    for (const AttentionShape& s : shapes) {
      const int64_t capacity = s.S + 5, first = s.S / 3;
      OwnedTensor q = random_f32({s.T, s.H, s.Dh}), kf = random_f32({s.S, s.Hkv, s.Dh}), vf = random_f32({s.S, s.Hkv, s.Dh});
      OwnedTensor kc = OwnedTensor::empty(dt, ops::kv_cache_shape(Device::CPU, capacity, s.Hkv, s.Dh));
      OwnedTensor vc = OwnedTensor::empty(dt, ops::kv_cache_shape(Device::CPU, capacity, s.Hkv, s.Dh));
      ASSERT_EQ(kc.tensor.shape_vec(), (std::vector<int64_t>{s.Hkv, capacity, s.Dh}));
      for (auto [src, dst] : {std::pair{&kf, &kc}, std::pair{&vf, &vc}}) {  // two writes: [0, first), [first, S)
        ops::kv_write(kCpu, src->tensor.rows(0, first), dst->tensor, 0);
        ops::kv_write(kCpu, src->tensor.rows(first, s.S), dst->tensor, first);
      }
      OwnedTensor kg = OwnedTensor::empty(dt, ops::kv_cache_shape(Device::CPU, capacity + 7, s.Hkv, s.Dh));
      OwnedTensor vg = OwnedTensor::empty(dt, ops::kv_cache_shape(Device::CPU, capacity + 7, s.Hkv, s.Dh));
      ops::kv_copy(kc.tensor, kg.tensor, s.S);
      ops::kv_copy(vc.tensor, vg.tensor, s.S);
      // The same keys position-major, rounded as the cache rounded them.
      OwnedTensor kp = OwnedTensor::empty(dt, {s.S, s.Hkv, s.Dh}), vp = OwnedTensor::empty(dt, {s.S, s.Hkv, s.Dh});
      for (auto [src, dst] : {std::pair{&kf, &kp}, std::pair{&vf, &vp}}) {
        if (dt == DType::F16) ops::convert(kCpu, src->tensor, dst->tensor);
        else ops::copy(src->tensor, dst->tensor);
      }
      OwnedTensor kp32 = OwnedTensor::empty(DType::F32, {s.S, s.Hkv, s.Dh}), vp32 = OwnedTensor::empty(DType::F32, {s.S, s.Hkv, s.Dh});
      convert_to_f32(kp.tensor.data, dt, kp32.tensor.ptr<float>(), static_cast<size_t>(kp.tensor.numel()));
      convert_to_f32(vp.tensor.data, dt, vp32.tensor.ptr<float>(), static_cast<size_t>(vp.tensor.numel()));
      const float scale = 1.0f / std::sqrt(static_cast<float>(s.Dh));
      for (bool reference : {false, true})
        for (ops::Precision precision : {ops::Precision::F32, ops::Precision::BF16}) {
          ops::Options o;
          o.reference = reference;
          o.precision = precision;
          const ops::Context c(o);
          OwnedTensor want = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh}), got = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh});
          // The reference reads F32 keys (the cached path gathers and widens them the same way).
          ops::attention(c, q.tensor, reference ? kp32.tensor : kp.tensor, reference ? vp32.tensor : vp.tensor,
                         want.tensor, scale, s.offset);
          ops::attention_cached(c, q.tensor, kg.tensor, vg.tensor, s.S, got.tensor, scale, s.offset);
          for (int64_t i = 0; i < got.tensor.numel(); ++i)
            ASSERT_EQ(got.tensor.ptr<float>()[i], want.tensor.ptr<float>()[i])
                << dtype_name(dt) << " T=" << s.T << " S=" << s.S << " Dh=" << s.Dh << " reference=" << reference
                << " " << ops::precision_name(precision) << " i=" << i;
        }
    }
}

// Bad cache views are refused, not read: positions past the capacity, mismatched heads.
TEST(Kernels, KvCacheOpsRefuseBadShapes) {
  OwnedTensor cache = OwnedTensor::empty(DType::F32, ops::kv_cache_shape(Device::CPU, 8, 2, 16));
  OwnedTensor rows = random_f32({3, 2, 16}), wrong = random_f32({3, 4, 16});
  OwnedTensor q = random_f32({1, 4, 16}), out = OwnedTensor::empty(DType::F32, {1, 4, 16});
  EXPECT_THROW(ops::kv_write(kCpu, rows.tensor, cache.tensor, 6), Error);   // 6 + 3 > 8
  EXPECT_THROW(ops::kv_write(kCpu, wrong.tensor, cache.tensor, 0), Error);  // 4 heads into 2
  EXPECT_THROW(ops::attention_cached(kCpu, q.tensor, cache.tensor, cache.tensor, 9, out.tensor, 1.0f, 8), Error);
  OwnedTensor small = OwnedTensor::empty(DType::F32, ops::kv_cache_shape(Device::CPU, 4, 2, 16));
  EXPECT_THROW(ops::kv_copy(cache.tensor, small.tensor, 5), Error);
  ops::kv_write(kCpu, rows.tensor, cache.tensor, 5);  // exactly to the end: fine
}
