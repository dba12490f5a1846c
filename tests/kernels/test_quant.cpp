// tests/kernels/test_quant.cpp — the Q8/Q4 formats (tensor/quant.h) and every kernel that reads them:
// the format's exact values, each ISA table's dequantization (bit-exact against the plain one), its
// GEMV and GEMM against kernels/ref on odd shapes and tails (K not a multiple of the group, like
// SigLIP's 4304), the bf16 GEMM against the exact product of its rounded operands, and embedding rows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/gemv_vnni.h"
#include "kernels/cpu/isa.h"
#include "kernels/ops.h"
#include "kernels/ref/ref.h"
#include "tensor/buffer.h"
#include "tensor/error.h"
#include "tensor/quant.h"
#include "test_util.h"

using namespace tl;

namespace {

std::vector<float> random_values(int64_t n, float scale) {
  std::normal_distribution<float> nd(0.0f, scale);
  std::mt19937& rng = tl::test::test_rng();
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = nd(rng);
  return v;
}

// A quantized [N, K] matrix that owns its codes and scales, made from F32 values by quantize_row.
struct QuantWeights {
  DType type;
  int64_t N, K;
  std::vector<uint8_t> codes;
  std::vector<uint16_t> scales;

  QuantWeights(DType t, int64_t n, int64_t k, const std::vector<float>& w) : type(t), N(n), K(k) {
    codes.resize(static_cast<size_t>(N * quant_row_bytes(t, K)));
    scales.resize(static_cast<size_t>(N * quant_groups(K)));
    for (int64_t r = 0; r < N; ++r)
      quantize_row(t, w.data() + r * K, K, codes.data() + r * quant_row_bytes(t, K), scales.data() + r * quant_groups(K));
  }
  Tensor tensor() {
    Tensor t = Tensor::view(codes.data(), type, {N, K});
    t.scales = scales.data();
    return t;
  }
  // The exact values, as an F32 matrix.
  OwnedTensor dequantized() {
    OwnedTensor f = OwnedTensor::empty(DType::F32, {N, K});
    const Tensor q = tensor();
    for (int64_t r = 0; r < N; ++r) weight_slice_to_f32(q, r, 0, K, f.tensor.ptr<float>() + r * K);
    return f;
  }
};

OwnedTensor from_values(const std::vector<float>& v, const std::vector<int64_t>& shape) {
  OwnedTensor t = OwnedTensor::empty(DType::F32, shape);
  std::copy(v.begin(), v.end(), t.tensor.ptr<float>());
  return t;
}

double max_rel(const Tensor& got, const Tensor& want) {
  return tl::test::max_rel_error(got.ptr<float>(), want.ptr<float>(), static_cast<size_t>(want.numel()));
}

struct Shape {
  int64_t T, K, N;
};

}  // namespace

// The format as documented: scale from the group's largest magnitude, codes rounded with the stored
// (F16) scale, the extreme value exact, zero groups, the padded tail, and per-value error <= d/2.
TEST(Quant, FormatValuesAndErrorBound) {
  std::vector<float> w = random_values(100, 0.02f);  // 4 groups, the last with 4 values
  w[5] = -0.09f;                                      // group 0's largest magnitude, negative
  for (int i = 32; i < 64; ++i) w[i] = 0.0f;          // an all-zero group
  for (DType t : {DType::Q8, DType::Q4}) {
    QuantWeights q(t, 1, 100, w);
    ASSERT_EQ(q.scales.size(), 4u);
    const float d0 = f16_to_f32(q.scales[0]);
    EXPECT_EQ(q.scales[0], f32_to_f16(t == DType::Q8 ? 0.09f / 127 : -0.09f / -8)) << dtype_name(t);
    EXPECT_EQ(q.scales[1], 0) << "an all-zero group has scale 0";
    OwnedTensor f = q.dequantized();
    const float* v = f.tensor.ptr<float>();
    EXPECT_NEAR(v[5], -0.09f, 1e-4f) << "the extreme value maps to the extreme code";
    for (int i = 32; i < 64; ++i) EXPECT_EQ(v[i], 0.0f);
    for (int g = 0; g < 4; ++g) {
      const float d = std::fabs(f16_to_f32(q.scales[g]));
      for (int i = g * 32; i < std::min(100, g * 32 + 32); ++i) {
        // Q4's codes reach -8 steps on the extreme's side but only 7 on the other: values past 7.5 steps
        // there saturate (error up to one step, as in llama.cpp's Q4_0).
        const float bound = t == DType::Q4 && std::fabs(w[i]) > 7.5f * d ? d : d / 2;
        EXPECT_LE(std::fabs(v[i] - w[i]), bound * 1.0001f + 1e-9f) << dtype_name(t) << " value " << i;
      }
    }
    if (t == DType::Q8) {
      EXPECT_EQ(static_cast<int8_t>(q.codes[5]), -127);
      EXPECT_EQ(v[5], d0 * -127.0f);
      for (int i = 100; i < 128; ++i) EXPECT_EQ(q.codes[i], 0) << "padding codes are zero";
    } else {
      EXPECT_EQ(q.codes[5] & 15, 0) << "the extreme value is code 0 (-8 steps)";
      EXPECT_EQ(v[5], d0 * -8.0f);
      for (int i = 0; i < 16; ++i) {  // group 3 holds values 96..99 (low nibbles 0..3); padding is code 8
        if (i >= 4) {
          EXPECT_EQ(q.codes[48 + i] & 15, 8);
        }
        EXPECT_EQ(q.codes[48 + i] >> 4, 8);
      }
    }
    // Quantizing the dequantized values gives the same codes and scales back.
    QuantWeights again(t, 1, 100, std::vector<float>(v, v + 100));
    EXPECT_EQ(again.codes, q.codes) << dtype_name(t);
    EXPECT_EQ(again.scales, q.scales) << dtype_name(t);
  }
}

// Each table's weight_slice (the GEMMs' packing) is bit-identical to the plain dequantization, for
// slices ending inside a group and for the padded last group.
TEST(Quant, EveryTableDequantizesExactly) {
  for (const cpu::IsaKernels* isa : cpu::runnable_isa_tables())
    for (DType t : {DType::Q8, DType::Q4})
      for (int64_t K : {32, 37, 300, 4304}) {
        QuantWeights q(t, 3, K, random_values(3 * K, 0.05f));
        const Tensor w = q.tensor();
        const QuantMatrix m = {q.codes.data(), q.scales.data()};
        for (int64_t k0 = 0; k0 < K; k0 += 64) {
          const int64_t kb = std::min<int64_t>(K - k0, 77);
          std::vector<float> want(static_cast<size_t>(kb)), got(static_cast<size_t>(kb));
          weight_slice_to_f32(w, 2, k0, kb, want.data());
          isa->weight_slice(&m, t, K, 2, k0, kb, got.data());
          EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * 4))
              << isa->name << " " << dtype_name(t) << " K=" << K << " k0=" << k0;
        }
      }
}

// The GEMV (T < 4) and the F32 register-tile GEMM of every table on quantized weights, against the
// reference's F64 sums of the exact values: F32 summation error.
TEST(Quant, EveryTableGemvAndGemmMatchReference) {
  const Shape shapes[] = {{1, 37, 5},  {1, 4304, 19},  {2, 300, 70}, {3, 1536, 33},
                          {5, 64, 9}, {13, 4304, 70}, {7, 37, 130}};
  for (const cpu::IsaKernels* isa : cpu::runnable_isa_tables())
    for (DType t : {DType::Q8, DType::Q4})
      for (const Shape& s : shapes) {
        QuantWeights q(t, s.N, s.K, random_values(s.N * s.K, 0.02f));
        OwnedTensor x = from_values(random_values(s.T * s.K, 1.0f), {s.T, s.K});
        OwnedTensor b = from_values(random_values(s.N, 0.02f), {s.N});
        OwnedTensor want = OwnedTensor::empty(DType::F32, {s.T, s.N}), got = OwnedTensor::empty(DType::F32, {s.T, s.N});
        const Tensor w = q.tensor();
        ref::matmul(x.tensor, w, &b.tensor, want.tensor);
        const QuantMatrix m = {q.codes.data(), q.scales.data()};
        isa->gemm(x.tensor.ptr<float>(), s.T, s.K, &m, t, b.tensor.ptr<float>(), got.tensor.ptr<float>(), s.N, 0, s.N);
        EXPECT_LE(max_rel(got.tensor, want.tensor), 4e-6)
            << isa->name << " " << dtype_name(t) << " T=" << s.T << " K=" << s.K << " N=" << s.N;
      }
}

// ops::matmul on quantized weights at both precisions and several thread counts: F32 to summation
// error; bf16 against the exact product of the bf16-rounded activations and dequantized weights.
TEST(Quant, OpsMatmulBothPrecisions) {
  const Shape shapes[] = {{1, 1536, 2304}, {6, 4304, 70}, {37, 1152, 129}};
  for (DType t : {DType::Q8, DType::Q4})
    for (const Shape& s : shapes) {
      QuantWeights q(t, s.N, s.K, random_values(s.N * s.K, 0.02f));
      OwnedTensor x = from_values(random_values(s.T * s.K, 1.0f), {s.T, s.K});
      OwnedTensor want = OwnedTensor::empty(DType::F32, {s.T, s.N}), rounded = OwnedTensor::empty(DType::F32, {s.T, s.N});
      ref::matmul(x.tensor, q.tensor(), nullptr, want.tensor);
      OwnedTensor wf = q.dequantized();
      OwnedTensor xb = OwnedTensor::empty(DType::F32, {s.T, s.K}), wb = OwnedTensor::empty(DType::F32, {s.N, s.K});
      auto round_bf16 = [](const Tensor& from, Tensor& to) {
        for (int64_t i = 0; i < from.numel(); ++i) to.ptr<float>()[i] = bf16_to_f32(f32_to_bf16(from.ptr<float>()[i]));
      };
      round_bf16(x.tensor, xb.tensor);
      round_bf16(wf.tensor, wb.tensor);
      ref::matmul(xb.tensor, wb.tensor, nullptr, rounded.tensor);
      for (const char* precision : {"f32", "bf16"})
        for (int threads : {1, 2, 3}) {
          ops::Options o;
          o.threads = threads;
          o.precision = std::string(precision) == "f32" ? ops::Precision::F32 : ops::Precision::BF16;
          if (o.precision == ops::Precision::BF16 && !cpu::gemm_bf16_available()) continue;
          const ops::Context c(o);
          OwnedTensor got = OwnedTensor::empty(DType::F32, {s.T, s.N});
          ops::matmul(c, x.tensor, q.tensor(), nullptr, got.tensor);
          const bool gemv = s.T <= cpu::kGemvMaxRows;
          if (o.precision == ops::Precision::BF16 && gemv && c.cpu().int8_gemv) continue;  // the int8 tests' job
          const bool bf16 = o.precision == ops::Precision::BF16 && !gemv;
          EXPECT_LE(max_rel(got.tensor, bf16 ? rounded.tensor : want.tensor), 4e-6)
              << dtype_name(t) << " " << precision << " threads=" << threads << " T=" << s.T << " K=" << s.K;
        }
    }
}

// Embedding rows of a quantized table are its exact values, on the CPU kernels and the reference.
TEST(Quant, EmbedRowsAreExact) {
  for (DType t : {DType::Q8, DType::Q4}) {
    QuantWeights q(t, 50, 300, random_values(50 * 300, 0.02f));
    OwnedTensor f = q.dequantized();
    const int ids[] = {0, 49, 7, 7};
    OwnedTensor got = OwnedTensor::empty(DType::F32, {4, 300}), ref_out = OwnedTensor::empty(DType::F32, {4, 300});
    ops::embed(ops::Context{}, q.tensor(), ids, 4, got.tensor);
    ref::embed(q.tensor(), ids, 4, ref_out.tensor);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(0, std::memcmp(got.tensor.ptr<float>() + i * 300, f.tensor.ptr<float>() + ids[i] * 300, 300 * 4));
      EXPECT_EQ(0, std::memcmp(ref_out.tensor.ptr<float>() + i * 300, f.tensor.ptr<float>() + ids[i] * 300, 300 * 4));
    }
  }
}

// A quantized weight without its scales is a caller bug the op names, not a wild read.
TEST(Quant, MatmulRefusesCodesWithoutScales) {
  QuantWeights q(DType::Q8, 4, 64, random_values(4 * 64, 0.02f));
  Tensor w = q.tensor();
  w.scales = nullptr;
  OwnedTensor x = from_values(random_values(64, 1.0f), {1, 64}), y = OwnedTensor::empty(DType::F32, {1, 4});
  EXPECT_THROW(ops::matmul(ops::Context{}, x.tensor, w, nullptr, y.tensor), Error);
}

// The int8-activation GEMV (kernels/cpu/gemv_vnni.h) against its specification: activations
// quantized by quantize_activations, exact integer group sums, each scaled by dw·dx; F32 summation
// error only. Odd group counts (the half chunk), K not a multiple of 32, both formats.
TEST(Quant, Int8GemvMatchesItsSpecification) {
  if (!cpu::gemv_vnni_available()) GTEST_SKIP() << "no AVX512_VNNI on this CPU";
  for (DType t : {DType::Q8, DType::Q4})
    for (int64_t K : {32, 37, 64, 96, 300, 1536, 4304, 6144}) {
      const int64_t N = 45;
      QuantWeights q(t, N, K, random_values(N * K, 0.02f));
      const std::vector<float> x = random_values(K, 1.0f), b = random_values(N, 0.02f);
      std::vector<int8_t> xq(static_cast<size_t>(quant_groups(K) * kQuantGroup));
      std::vector<float> dx(static_cast<size_t>(quant_groups(K)));
      quantize_activations(x.data(), K, xq.data(), dx.data());
      const QuantMatrix m = {q.codes.data(), q.scales.data()};
      std::vector<float> got(static_cast<size_t>(N)), want(static_cast<size_t>(N));
      const cpu::VnniActivations a(x.data(), K, t);
      a.rows(m, b.data(), got.data(), 0, 20);
      a.rows(m, b.data(), got.data(), 20, N);  // a second range, as another thread would
      for (int64_t n = 0; n < N; ++n) {
        double y = b[n];
        for (int64_t g = 0; g < quant_groups(K); ++g) {
          int64_t dot = 0;  // Σ xq·code in integers: dequantized value / scale = code − offset
          const float dw = f16_to_f32(q.scales[n * quant_groups(K) + g]);
          std::vector<float> grp(kQuantGroup, 0.0f);
          const int64_t len = std::min(kQuantGroup, K - g * kQuantGroup);
          weight_slice_to_f32(q.tensor(), n, g * kQuantGroup, len, grp.data());
          for (int64_t i = 0; i < len; ++i)
            dot += static_cast<int64_t>(xq[g * kQuantGroup + i]) * (dw != 0 ? std::lround(grp[i] / dw) : 0);
          y += static_cast<double>(dw) * dx[g] * static_cast<double>(dot);
        }
        want[n] = static_cast<float>(y);
      }
      EXPECT_LE(tl::test::max_rel_error(got.data(), want.data(), want.size()), 2e-6) << dtype_name(t) << " K=" << K;
    }
}

// ops::matmul routes decode on quantized weights to the int8 GEMV under the bf16 precision, and its
// error against the exact F32 result stays within the activation rounding's bound (tensor/quant.h).
TEST(Quant, Bf16PrecisionDecodeUsesInt8ActivationsWithinTheirBound) {
  ops::Options o;
  o.precision = ops::Precision::BF16;
  const ops::Context c(o);
  if (!c.cpu().int8_gemv) GTEST_SKIP() << "no int8 GEMV under bf16 on this CPU";
  for (DType t : {DType::Q8, DType::Q4}) {
    const int64_t K = 1536, N = 300;
    QuantWeights q(t, N, K, random_values(N * K, 0.02f));
    OwnedTensor x = from_values(random_values(K, 1.0f), {1, K});
    OwnedTensor exact = OwnedTensor::empty(DType::F32, {1, N}), got = OwnedTensor::empty(DType::F32, {1, N});
    ops::matmul(ops::Context{}, x.tensor, q.tensor(), nullptr, exact.tensor);
    ops::matmul(c, x.tensor, q.tensor(), nullptr, got.tensor);
    const double err = max_rel(got.tensor, exact.tensor);
    EXPECT_GT(err, 0.0) << "the int8 path was not taken";
    EXPECT_LE(err, 3e-2) << dtype_name(t);
  }
}
