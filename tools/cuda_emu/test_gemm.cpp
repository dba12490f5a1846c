// tools/cuda_emu/test_gemm.cpp — kernels/cuda/gemm.cu, emulated on the CPU, against kernels/ref.
//
// The cases of tests/kernels/test_cuda_gemm.cpp, cut to what the emulator runs in reasonable time:
// every rung (Naive, Tiled, TensorCore, Gemv, Auto) × F32/F16/BF16 weights × every epilogue on the odd
// tails (1×1×1, 3×5×7, 129×130×131, K % 8 != 0, ...) and misaligned pointers; real model shapes with
// one epilogue each (SigLIP 729×1152×1152 on every rung, SigLIP fc2, the projector, OpenELM prefill,
// decode GEMVs up to the 32000-row head); the patch embedding at SigLIP's 384×384 / 14 and at odd
// sizes; and the refusals. Tolerances as in the GPU test: 1e-5 of max|y| for the F32 rungs, 1e-4 for
// TensorCore against a reference on the same rounded activations. Large T compares a sample of rows
// (first and last 8, every 37th) in all columns, and checks that every output was written (the output
// starts as NaN).
#include <string>
#include <vector>

#include "emu_test.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/ref/ref.h"

using namespace tl;
using cuda::GemmAlgo;
using emu_test::DeviceBuffer;
using emu_test::Tally;

namespace {

constexpr DType kF32 = DType::F32, kF16 = DType::F16, kBF16 = DType::BF16;
const std::vector<GemmAlgo> kAllRungs = {GemmAlgo::Naive, GemmAlgo::Tiled, GemmAlgo::TensorCore, GemmAlgo::Gemv,
                                         GemmAlgo::Auto};
const std::vector<ops::Epilogue> kAllEpilogues = {ops::Epilogue::None, ops::Epilogue::GeluTanh, ops::Epilogue::GeluErf};

const char* epi_name(ops::Epilogue e) {
  switch (e) {
    case ops::Epilogue::None: return "None";
    case ops::Epilogue::GeluTanh: return "GeluTanh";
    case ops::Epilogue::GeluErf: return "GeluErf";
  }
  return "?";
}

OwnedTensor random_as(DType dt, const std::vector<int64_t>& shape, float scale) {
  OwnedTensor f = emu_test::random_f32(shape, scale);
  if (dt == kF32) return f;
  OwnedTensor t = OwnedTensor::empty(dt, shape);
  convert_from_f32(f.tensor.ptr<float>(), t.tensor.data, dt, static_cast<size_t>(f.tensor.numel()));
  return t;
}

// x rounded to dt and back: the activations the tensor-core rung multiplies.
OwnedTensor rounded_to(const Tensor& x, DType dt) {
  OwnedTensor out = OwnedTensor::empty(kF32, x.shape_vec());
  std::vector<uint16_t> tmp(static_cast<size_t>(x.numel()));
  convert_from_f32(x.ptr<float>(), tmp.data(), dt, tmp.size());
  convert_to_f32(tmp.data(), dt, out.tensor.ptr<float>(), tmp.size());
  return out;
}

OwnedTensor with_epilogue(const Tensor& y, ops::Epilogue epi) {
  OwnedTensor out = OwnedTensor::empty(kF32, y.shape_vec());
  std::copy(y.ptr<float>(), y.ptr<float>() + y.numel(), out.tensor.ptr<float>());
  if (epi == ops::Epilogue::GeluTanh) ref::gelu_tanh(out.tensor);
  if (epi == ops::Epilogue::GeluErf) ref::gelu_erf(out.tensor);
  return out;
}

std::vector<int64_t> sample_rows(int64_t T) {
  std::vector<int64_t> rows;
  for (int64_t t = 0; t < T; ++t)
    if (T <= 64 || t < 8 || t >= T - 8 || t % 37 == 0) rows.push_back(t);
  return rows;
}

bool rung_applies(GemmAlgo algo, int64_t T, DType w_dt) {
  if (algo == GemmAlgo::TensorCore) return w_dt != kF32;
  if (algo == GemmAlgo::Gemv) return T <= cuda::kGemvMaxRows;
  return true;
}

bool rounds_activations(GemmAlgo algo, int64_t T, DType w_dt) {
  return w_dt != kF32 && (algo == GemmAlgo::TensorCore || (algo == GemmAlgo::Auto && T > cuda::kGemvMaxRows));
}

struct GemmCase {
  int64_t T, N, K;
  DType w_dt;
  const DType* bias_dt;  // null: no bias
  bool misalign = false;  // x, w and bias one element past their 256-byte aligned starts
  std::vector<GemmAlgo> rungs = kAllRungs;
  std::vector<ops::Epilogue> epilogues = kAllEpilogues;
};

void check_gemm(Tally& tally, const GemmCase& c) {
  const std::string what = std::string(dtype_name(c.w_dt)) + " T=" + std::to_string(c.T) + " N=" + std::to_string(c.N) +
                           " K=" + std::to_string(c.K) +
                           (c.bias_dt ? std::string(" bias ") + dtype_name(*c.bias_dt) : " no bias") +
                           (c.misalign ? " misaligned" : "");
  OwnedTensor x = emu_test::random_f32({c.T, c.K});
  OwnedTensor w = random_as(c.w_dt, {c.N, c.K}, 1.0f / std::sqrt(static_cast<float>(c.K)));
  OwnedTensor b = random_as(c.bias_dt ? *c.bias_dt : kF32, {c.N}, 0.5f);
  const Tensor* bias = c.bias_dt ? &b.tensor : nullptr;

  const size_t xo = c.misalign ? sizeof(float) : 0, wo = c.misalign ? dtype_size(c.w_dt) : 0;
  const size_t bo = c.misalign ? dtype_size(b.tensor.dtype) : 0;
  DeviceBuffer d_x(x.tensor.nbytes() + xo), d_w(w.tensor.nbytes() + wo), d_b(b.tensor.nbytes() + bo);
  DeviceBuffer d_y(static_cast<size_t>(c.T * c.N) * sizeof(float));
  std::memcpy(d_x.at(xo), x.tensor.data, x.tensor.nbytes());
  std::memcpy(d_w.at(wo), w.tensor.data, w.tensor.nbytes());
  std::memcpy(d_b.at(bo), b.tensor.data, b.tensor.nbytes());

  // References on the sampled rows: exact activations, and rounded to the weight dtype.
  const std::vector<int64_t> rows = sample_rows(c.T);
  const int64_t R = static_cast<int64_t>(rows.size());
  OwnedTensor xs = OwnedTensor::empty(kF32, {R, c.K});
  for (int64_t i = 0; i < R; ++i)
    std::copy(x.tensor.ptr<float>() + rows[i] * c.K, x.tensor.ptr<float>() + (rows[i] + 1) * c.K,
              xs.tensor.ptr<float>() + i * c.K);
  OwnedTensor want_exact = OwnedTensor::empty(kF32, {R, c.N}), want_rounded = OwnedTensor::empty(kF32, {R, c.N});
  ref::matmul(xs.tensor, w.tensor, bias, want_exact.tensor);
  if (c.w_dt != kF32) ref::matmul(rounded_to(xs.tensor, c.w_dt).tensor, w.tensor, bias, want_rounded.tensor);

  std::vector<float> got(static_cast<size_t>(R * c.N));
  for (GemmAlgo algo : c.rungs) {
    if (!rung_applies(algo, c.T, c.w_dt)) continue;
    const bool rounded = rounds_activations(algo, c.T, c.w_dt);
    for (ops::Epilogue epi : c.epilogues) {
      std::memset(d_y.at(), 0xff, static_cast<size_t>(c.T * c.N) * sizeof(float));
      cuda::gemm(d_x.at<float>(xo), c.T, c.K, d_w.at(wo), c.w_dt, bias ? d_b.at(bo) : nullptr, b.tensor.dtype,
                 d_y.at<float>(), c.N, epi, algo);
      for (int64_t i = 0; i < R; ++i)
        std::copy(d_y.at<float>() + rows[i] * c.N, d_y.at<float>() + (rows[i] + 1) * c.N, got.data() + i * c.N);
      OwnedTensor want = with_epilogue(rounded ? want_rounded.tensor : want_exact.tensor, epi);
      const double rel = emu_test::has_nan(d_y.at<float>(), c.T * c.N)  // every row written, sampled or not
                             ? INFINITY
                             : emu_test::max_rel(got.data(), want.tensor.ptr<float>(), R * c.N);
      tally.check(std::string("gemm ") + tl::cuda::algo_name(algo) + " " + what + " " + epi_name(epi), rel, rounded ? 1e-4 : 1e-5);
    }
  }
}

struct PatchCase {
  int64_t C, S, p, D;
  DType dt;
  std::vector<GemmAlgo> rungs = {GemmAlgo::Naive, GemmAlgo::Tiled, GemmAlgo::TensorCore, GemmAlgo::Auto};
};

void check_patch_embed(Tally& tally, const PatchCase& c) {
  const std::string what = std::string(dtype_name(c.dt)) + " C=" + std::to_string(c.C) + " S=" + std::to_string(c.S) +
                           " p=" + std::to_string(c.p) + " D=" + std::to_string(c.D);
  const int64_t grid = (c.S - c.p) / c.p + 1, P = grid * grid, K = c.C * c.p * c.p;
  OwnedTensor pixels = emu_test::random_f32({c.C, c.S, c.S});
  OwnedTensor w = random_as(c.dt, {c.D, c.C, c.p, c.p}, 1.0f / std::sqrt(static_cast<float>(K)));
  OwnedTensor b = random_as(c.dt, {c.D}, 0.5f);
  DeviceBuffer d_pixels(pixels.tensor.nbytes()), d_w(w.tensor.nbytes()), d_b(b.tensor.nbytes());
  DeviceBuffer d_out(static_cast<size_t>(P * c.D) * sizeof(float));
  std::memcpy(d_pixels.at(), pixels.tensor.data, pixels.tensor.nbytes());
  std::memcpy(d_w.at(), w.tensor.data, w.tensor.nbytes());
  std::memcpy(d_b.at(), b.tensor.data, b.tensor.nbytes());

  OwnedTensor want_exact = OwnedTensor::empty(kF32, {P, c.D}), want_rounded = OwnedTensor::empty(kF32, {P, c.D});
  ref::patch_embed(pixels.tensor, w.tensor, b.tensor, want_exact.tensor);
  if (c.dt != kF32) ref::patch_embed(rounded_to(pixels.tensor, c.dt).tensor, w.tensor, b.tensor, want_rounded.tensor);

  for (GemmAlgo algo : c.rungs) {
    if (algo == GemmAlgo::TensorCore && c.dt == kF32) continue;
    const bool rounded = c.dt != kF32 && (algo == GemmAlgo::TensorCore || algo == GemmAlgo::Auto);
    std::memset(d_out.at(), 0xff, static_cast<size_t>(P * c.D) * sizeof(float));
    cuda::patch_embed_gemm(d_pixels.at<float>(), c.C, c.S, c.p, d_w.at(), c.dt, d_b.at(), c.dt, d_out.at<float>(), c.D,
                           algo);
    const Tensor& want = rounded ? want_rounded.tensor : want_exact.tensor;
    tally.check(std::string("patch_embed ") + tl::cuda::algo_name(algo) + " " + what,
                emu_test::max_rel(d_out.at<float>(), want.ptr<float>(), P * c.D), rounded ? 1e-4 : 1e-5);
  }
}

void check_refusals(Tally& tally) {
  DeviceBuffer d(16 * 16 * sizeof(float));
  float* p = d.at<float>();
  tally.refuses("gemm TensorCore with F32 weights", [&] {
    cuda::gemm(p, 4, 16, p, kF32, nullptr, kF32, p, 16, ops::Epilogue::None, GemmAlgo::TensorCore);
  });
  tally.refuses("gemm Gemv with T > kGemvMaxRows", [&] {
    cuda::gemm(p, cuda::kGemvMaxRows + 1, 16, p, kF16, nullptr, kF32, p, 16, ops::Epilogue::None, GemmAlgo::Gemv);
  });
  tally.refuses("gemm K = 0", [&] { cuda::gemm(p, 4, 0, p, kF16, nullptr, kF32, p, 16, ops::Epilogue::None); });
  tally.refuses("patch_embed_gemm Gemv", [&] {
    cuda::patch_embed_gemm(p, 1, 8, 4, p, kF16, nullptr, kF32, p, 4, GemmAlgo::Gemv);
  });
  tally.refuses("patch_embed_gemm p > S", [&] {
    cuda::patch_embed_gemm(p, 1, 8, 9, p, kF16, nullptr, kF32, p, 4, GemmAlgo::Tiled);
  });
}

void gemm_suite(Tally& tally) {
  static const DType kBias[3] = {kF32, kF16, kBF16};
  auto bias_for = [](size_t i) { return i % 4 == 3 ? nullptr : &kBias[i % 4]; };

  // Odd tails of every tile size (64, 128, 32, 16, 8), K % 8 != 0, GEMV row counts up to kGemvMaxRows.
  const std::vector<std::vector<int64_t>> odd = {{1, 1, 1},    {3, 5, 7},     {17, 33, 65}, {129, 130, 131},
                                                 {8, 70, 588}, {5, 33, 100},  {2, 64, 1536}, {9, 129, 48},
                                                 {64, 128, 32}, {65, 127, 33}, {40, 100, 588}, {7, 1, 4}};
  for (size_t i = 0; i < odd.size(); ++i)
    for (DType dt : {kF32, kF16, kBF16}) check_gemm(tally, {odd[i][0], odd[i][1], odd[i][2], dt, bias_for(i)});

  // One element past 16-byte boundaries: GEMV's scalar path, the tensor-core rung's weight copy.
  const std::vector<std::vector<int64_t>> misaligned = {{5, 64, 128}, {20, 70, 136}, {1, 300, 1536}};
  for (size_t i = 0; i < misaligned.size(); ++i)
    for (DType dt : {kF32, kF16, kBF16})
      check_gemm(tally, {misaligned[i][0], misaligned[i][1], misaligned[i][2], dt, bias_for(i), true});

  // Real model shapes, one epilogue each: SigLIP's qkv/o GEMM on every rung, its fc2 (K = 4304: a
  // partial last k-tile) and the projector; an OpenELM prefill GEMM (T = 774: a partial row tile); the
  // OpenELM FFN projection and the 32000-row output head as decode GEMVs.
  using E = ops::Epilogue;
  using A = GemmAlgo;
  check_gemm(tally, {729, 1152, 1152, kBF16, &kBias[2], false, {A::TensorCore}, {E::GeluTanh}});
  check_gemm(tally, {729, 1152, 1152, kF16, &kBias[0], false, {A::Auto}, {E::None}});
  check_gemm(tally, {729, 1152, 1152, kF32, &kBias[0], false, {A::Tiled}, {E::GeluErf}});
  check_gemm(tally, {729, 1152, 1152, kBF16, nullptr, false, {A::Naive}, {E::None}});
  check_gemm(tally, {729, 1152, 4304, kBF16, &kBias[2], false, {A::TensorCore}, {E::None}});
  check_gemm(tally, {729, 1536, 1152, kF32, &kBias[0], false, {A::Tiled}, {E::GeluErf}});
  check_gemm(tally, {774, 2048, 1536, kF16, nullptr, false, {A::TensorCore}, {E::None}});
  check_gemm(tally, {1, 8192, 1536, kBF16, &kBias[0], false, {A::Gemv, A::Auto}, {E::None}});
  check_gemm(tally, {1, 8192, 1536, kF32, nullptr, false, {A::Gemv}, {E::None}});
  check_gemm(tally, {1, 32000, 1536, kF16, nullptr, false, {A::Gemv}, {E::None}});

  // Patch embedding: SigLIP's 384×384 image in 14×14 patches (K = 588, not a multiple of 8) on the
  // tensor cores, and odd sizes with leftover pixel rows and columns on every rung.
  check_patch_embed(tally, {3, 384, 14, 1152, kBF16, {GemmAlgo::TensorCore}});
  for (DType dt : {kF32, kF16, kBF16})
    for (PatchCase pc : {PatchCase{3, 30, 7, 13, dt}, PatchCase{2, 17, 4, 9, dt}, PatchCase{1, 5, 5, 3, dt},
                         PatchCase{1, 3, 1, 130, dt}})
      check_patch_embed(tally, pc);

  check_refusals(tally);
}

}  // namespace

int main(int argc, char** argv) { return emu_test::run_suite("gemm.cu", argc, argv, gemm_suite); }
