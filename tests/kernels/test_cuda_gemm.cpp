// tests/kernels/test_cuda_gemm.cpp — every rung of the CUDA GEMM ladder (kernels/cuda/gemm.cu) against
// kernels/ref on random data: F32/F16/BF16 weights, odd tails (1×1×1, 3×5×7, 129×130×131, K % 8 != 0),
// misaligned pointers, the real model's shapes (SigLIP, projector, OpenELM prefill, the 32000-row output
// head as a GEMV), every fused epilogue (None, GeluTanh, GeluErf: the reference applies ref::gelu_* to its
// product) and bias dtypes; and patch_embed_gemm against ref::patch_embed.
//
// Tolerances, relative to the largest |y| of the compared rows:
//   Naive, Tiled, Gemv (F32 math on exactly converted weights): 1e-5 — F32 versus F64 summation order.
//   TensorCore (activations rounded to the weight dtype): compared with a reference computed from the
//   same rounded activations, so f16/bf16 products are exact and only the F32 accumulation order (and
//   the tensor cores' internal accumulation) differs: 1e-4. The rounding itself is the stated precision
//   of the rung, not an error of the kernel.
// Large shapes compare a sample of rows (the first and last 8, so the tail tile, and every 37th) to
// keep the F64 reference fast; every column and all of K are still checked.
//
// Needs a CUDA device: every test skips with "no CUDA device" otherwise.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/ref/ref.h"
#include "tensor/buffer.h"
#include "tensor/error.h"
#include "test_util.h"

using namespace tl;
using tl::cuda::GemmAlgo;
using tl::cuda::algo_name;

namespace {

void cuda_ok(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

// cudaMalloc'd bytes, freed when the object dies. Copies wait for the whole device, so they are ordered
// with the engine's own stream whatever its flags.
class DeviceArray {
 public:
  explicit DeviceArray(size_t bytes) { cuda_ok(cudaMalloc(&p_, std::max<size_t>(bytes, 1)), "cudaMalloc"); }
  explicit DeviceArray(const Tensor& host) : DeviceArray(host.nbytes()) { upload(host.data, host.nbytes()); }
  ~DeviceArray() { cudaFree(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  void upload(const void* src, size_t bytes, size_t offset = 0) {
    cuda_ok(cudaDeviceSynchronize(), "sync before upload");
    cuda_ok(cudaMemcpy(static_cast<char*>(p_) + offset, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy H2D");
    cuda_ok(cudaDeviceSynchronize(), "sync after upload");
  }
  void download(void* dst, size_t bytes, size_t offset = 0) const {
    cuda_ok(cudaDeviceSynchronize(), "kernel");  // also reports faults of the kernels before
    cuda_ok(cudaMemcpy(dst, static_cast<const char*>(p_) + offset, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
  }
  void* get() const { return p_; }
  template <typename T>
  T* as(size_t byte_offset = 0) const {
    return reinterpret_cast<T*>(static_cast<char*>(p_) + byte_offset);
  }

 private:
  void* p_ = nullptr;
};

OwnedTensor random_f32(const std::vector<int64_t>& shape, float scale) {
  OwnedTensor t = OwnedTensor::empty(DType::F32, shape);
  std::normal_distribution<float> nd(0.0f, scale);
  std::mt19937& rng = tl::test::test_rng();
  for (int64_t i = 0; i < t.tensor.numel(); ++i) t.tensor.ptr<float>()[i] = nd(rng);
  return t;
}

// Random values stored as `dt` (rounded to it).
OwnedTensor random_as(DType dt, const std::vector<int64_t>& shape, float scale) {
  OwnedTensor f = random_f32(shape, scale);
  if (dt == DType::F32) return f;
  OwnedTensor t = OwnedTensor::empty(dt, shape);
  convert_from_f32(f.tensor.ptr<float>(), t.tensor.data, dt, static_cast<size_t>(f.tensor.numel()));
  return t;
}

// x rounded to dt and back: the activations the tensor-core rung multiplies.
OwnedTensor rounded_to(const Tensor& x, DType dt) {
  OwnedTensor out = OwnedTensor::empty(DType::F32, x.shape_vec());
  std::vector<uint16_t> tmp(static_cast<size_t>(x.numel()));
  convert_from_f32(x.ptr<float>(), tmp.data(), dt, tmp.size());
  convert_to_f32(tmp.data(), dt, out.tensor.ptr<float>(), tmp.size());
  return out;
}

const char* epi_name(ops::Epilogue e) {
  switch (e) {
    case ops::Epilogue::None: return "None";
    case ops::Epilogue::GeluTanh: return "GeluTanh";
    case ops::Epilogue::GeluErf: return "GeluErf";
  }
  return "?";
}

// The reference's output with the epilogue applied the way kernels/ref does it.
OwnedTensor with_epilogue(const Tensor& y, ops::Epilogue epi) {
  OwnedTensor out = OwnedTensor::empty(DType::F32, y.shape_vec());
  std::copy(y.ptr<float>(), y.ptr<float>() + y.numel(), out.tensor.ptr<float>());
  if (epi == ops::Epilogue::GeluTanh) ref::gelu_tanh(out.tensor);
  if (epi == ops::Epilogue::GeluErf) ref::gelu_erf(out.tensor);
  return out;
}

// max |got[rows[i], :] - want[i, :]| / max |want|.
double max_rel_rows(const std::vector<float>& got, int64_t N, const std::vector<int64_t>& rows, const Tensor& want) {
  double m = 0, d = 0;
  for (size_t i = 0; i < rows.size(); ++i)
    for (int64_t n = 0; n < N; ++n) {
      const double w = want.ptr<float>()[static_cast<int64_t>(i) * N + n];
      const double g = got[static_cast<size_t>(rows[i] * N + n)];
      m = std::max(m, std::fabs(w));
      d = std::max(d, std::isnan(g) ? INFINITY : std::fabs(g - w));
    }
  return d / std::max(m, 1e-30);
}

// Rows the reference computes: all of them for small T, else the first and last 8 and every 37th.
std::vector<int64_t> sample_rows(int64_t T) {
  std::vector<int64_t> rows;
  for (int64_t t = 0; t < T; ++t)
    if (T <= 64 || t < 8 || t >= T - 8 || t % 37 == 0) rows.push_back(t);
  return rows;
}

OwnedTensor gather_rows(const Tensor& x, const std::vector<int64_t>& rows) {
  const int64_t K = x.shape[1];
  OwnedTensor out = OwnedTensor::empty(DType::F32, {static_cast<int64_t>(rows.size()), K});
  for (size_t i = 0; i < rows.size(); ++i)
    std::copy(x.ptr<float>() + rows[i] * K, x.ptr<float>() + (rows[i] + 1) * K,
              out.tensor.ptr<float>() + static_cast<int64_t>(i) * K);
  return out;
}

struct GemmShape {
  int64_t T, N, K;
};

// Does rung `algo` round the activations to the weight dtype for this call?
bool rounds_activations(GemmAlgo algo, int64_t T, DType w_dt) {
  if (w_dt == DType::F32) return false;
  return algo == GemmAlgo::TensorCore || (algo == GemmAlgo::Auto && T > cuda::kGemvMaxRows);
}

bool rung_applies(GemmAlgo algo, int64_t T, DType w_dt) {
  if (algo == GemmAlgo::TensorCore) return w_dt != DType::F32;
  if (algo == GemmAlgo::Gemv) return T <= cuda::kGemvMaxRows;
  return true;
}

// Runs every applicable rung and epilogue for one shape and weight dtype. `misalign` offsets x, w and
// the bias by one element from their (256-byte aligned) allocations, to reach the unaligned paths.
void check_gemm(const GemmShape& s, DType w_dt, const DType* bias_dt, bool misalign = false) {
  const std::string what = std::string(dtype_name(w_dt)) + " T=" + std::to_string(s.T) + " N=" + std::to_string(s.N) +
                           " K=" + std::to_string(s.K) + (bias_dt ? std::string(" bias ") + dtype_name(*bias_dt) : " no bias") +
                           (misalign ? " misaligned" : "");
  SCOPED_TRACE(what);
  const float w_scale = 1.0f / std::sqrt(static_cast<float>(s.K));  // y ~ N(0, 1): the gelus see both signs
  OwnedTensor x = random_f32({s.T, s.K}, 1.0f), w = random_as(w_dt, {s.N, s.K}, w_scale);
  OwnedTensor b = random_as(bias_dt ? *bias_dt : DType::F32, {s.N}, 0.5f);
  const Tensor* bias = bias_dt ? &b.tensor : nullptr;

  const size_t xo = misalign ? sizeof(float) : 0, wo = misalign ? dtype_size(w_dt) : 0;
  const size_t bo = misalign ? dtype_size(b.tensor.dtype) : 0;
  DeviceArray d_x(x.tensor.nbytes() + xo), d_w(w.tensor.nbytes() + wo), d_b(b.tensor.nbytes() + bo);
  DeviceArray d_y(static_cast<size_t>(s.T * s.N) * sizeof(float));
  d_x.upload(x.tensor.data, x.tensor.nbytes(), xo);
  d_w.upload(w.tensor.data, w.tensor.nbytes(), wo);
  d_b.upload(b.tensor.data, b.tensor.nbytes(), bo);

  const std::vector<int64_t> rows = sample_rows(s.T);
  OwnedTensor xs = gather_rows(x.tensor, rows);
  const int64_t R = static_cast<int64_t>(rows.size());
  OwnedTensor want_exact = OwnedTensor::empty(DType::F32, {R, s.N});
  ref::matmul(xs.tensor, w.tensor, bias, want_exact.tensor);
  OwnedTensor want_rounded = OwnedTensor::empty(DType::F32, {R, s.N});
  if (w_dt != DType::F32) {
    OwnedTensor xr = rounded_to(xs.tensor, w_dt);
    ref::matmul(xr.tensor, w.tensor, bias, want_rounded.tensor);
  }

  std::vector<float> got(static_cast<size_t>(s.T * s.N));
  for (GemmAlgo algo : {GemmAlgo::Naive, GemmAlgo::Tiled, GemmAlgo::TensorCore, GemmAlgo::Gemv, GemmAlgo::Auto}) {
    if (!rung_applies(algo, s.T, w_dt)) continue;
    const bool rounded = rounds_activations(algo, s.T, w_dt);
    const Tensor& want = rounded ? want_rounded.tensor : want_exact.tensor;
    const double tol = rounded ? 1e-4 : 1e-5;
    for (ops::Epilogue epi : {ops::Epilogue::None, ops::Epilogue::GeluTanh, ops::Epilogue::GeluErf}) {
      std::fill(got.begin(), got.end(), NAN);
      cuda::gemm(d_x.as<float>(xo), s.T, s.K, d_w.as<void>(wo), w_dt, bias ? d_b.as<void>(bo) : nullptr,
                 b.tensor.dtype, d_y.as<float>(), s.N, epi, algo);
      d_y.download(got.data(), got.size() * sizeof(float));
      OwnedTensor want_epi = with_epilogue(want, epi);
      EXPECT_LE(max_rel_rows(got, s.N, rows, want_epi.tensor), tol) << algo_name(algo) << " epilogue " << epi_name(epi);
    }
  }
}

constexpr DType kF32 = DType::F32, kF16 = DType::F16, kBF16 = DType::BF16;

// Bias dtype of the i-th case: cycles through F32, F16, BF16 and none.
const DType* bias_for(size_t i) {
  static const DType kBias[3] = {kF32, kF16, kBF16};
  return i % 4 == 3 ? nullptr : &kBias[i % 4];
}

}  // namespace

TEST(CudaGemm, OddShapesEveryRungDtypeAndEpilogue) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  // T, N, K: single elements, tails of every tile size (64, 128, 32, 16, 8), K % 8 != 0 (unaligned f16
  // weight rows: the tensor-core rung pads them, the GEMV takes its scalar path on odd rows), and GEMV
  // row counts up to kGemvMaxRows.
  const std::vector<GemmShape> shapes = {{1, 1, 1},     {3, 5, 7},     {17, 33, 65},  {129, 130, 131}, {8, 70, 588},
                                         {5, 33, 100},  {2, 64, 1536}, {9, 129, 48},  {64, 128, 32},  {65, 127, 33},
                                         {40, 100, 588}, {7, 1, 4}};
  for (size_t i = 0; i < shapes.size(); ++i)
    for (DType dt : {kF32, kF16, kBF16}) check_gemm(shapes[i], dt, bias_for(i));
}

TEST(CudaGemm, MisalignedPointers) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  // x, w and bias one element past a 16-byte boundary: the GEMV's scalar path and the tensor-core
  // rung's weight copy even though K % 8 == 0.
  const std::vector<GemmShape> shapes = {{5, 64, 128}, {20, 70, 136}, {1, 300, 1536}};
  for (size_t i = 0; i < shapes.size(); ++i)
    for (DType dt : {kF32, kF16, kBF16}) check_gemm(shapes[i], dt, bias_for(i), /*misalign=*/true);
}

TEST(CudaGemm, ModelShapes) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  // SigLIP qkv/o, fc1, fc2 (T = 729 patches), the projector, an OpenELM prefill GEMM.
  const std::vector<GemmShape> shapes = {
      {729, 1152, 1152}, {729, 4304, 1152}, {729, 1152, 4304}, {729, 1536, 1152}, {774, 2048, 1536}};
  for (size_t i = 0; i < shapes.size(); ++i)
    for (DType dt : {kF32, kF16, kBF16}) check_gemm(shapes[i], dt, bias_for(i));
}

TEST(CudaGemm, DecodeGemvOutputHead) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  // The tied 32000 × 1536 output head and an OpenELM FFN projection, one token.
  for (DType dt : {kF32, kF16, kBF16}) {
    check_gemm({1, 32000, 1536}, dt, nullptr);
    check_gemm({1, 8192, 1536}, dt, &kF32);
  }
}

TEST(CudaGemm, RefusesRungsThatDoNotApply) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  DeviceArray d_x(16 * 16 * sizeof(float)), d_w(16 * 16 * sizeof(float)), d_y(16 * 16 * sizeof(float));
  EXPECT_THROW(cuda::gemm(d_x.as<float>(), 4, 16, d_w.get(), kF32, nullptr, kF32, d_y.as<float>(), 16,
                          ops::Epilogue::None, GemmAlgo::TensorCore),
               Error);
  EXPECT_THROW(cuda::gemm(d_x.as<float>(), cuda::kGemvMaxRows + 1, 16, d_w.get(), kF16, nullptr, kF32, d_y.as<float>(),
                          16, ops::Epilogue::None, GemmAlgo::Gemv),
               Error);
  EXPECT_THROW(cuda::gemm(d_x.as<float>(), 4, 0, d_w.get(), kF16, nullptr, kF32, d_y.as<float>(), 16,
                          ops::Epilogue::None, GemmAlgo::Auto),
               Error);
  EXPECT_THROW(cuda::patch_embed_gemm(d_x.as<float>(), 1, 8, 4, d_w.get(), kF16, nullptr, kF32, d_y.as<float>(), 4,
                                      GemmAlgo::Gemv),
               Error);
  EXPECT_THROW(cuda::patch_embed_gemm(d_x.as<float>(), 1, 8, 9, d_w.get(), kF16, nullptr, kF32, d_y.as<float>(), 4,
                                      GemmAlgo::Tiled),
               Error);
}

namespace {

struct PatchCase {
  int64_t C, S, p, D;
};

void check_patch_embed(const PatchCase& pc, DType dt) {
  SCOPED_TRACE(std::string(dtype_name(dt)) + " C=" + std::to_string(pc.C) + " S=" + std::to_string(pc.S) +
               " p=" + std::to_string(pc.p) + " D=" + std::to_string(pc.D));
  const int64_t grid = (pc.S - pc.p) / pc.p + 1, P = grid * grid, K = pc.C * pc.p * pc.p;
  OwnedTensor pixels = random_f32({pc.C, pc.S, pc.S}, 1.0f);
  OwnedTensor w = random_as(dt, {pc.D, pc.C, pc.p, pc.p}, 1.0f / std::sqrt(static_cast<float>(K)));
  OwnedTensor b = random_as(dt, {pc.D}, 0.5f);
  DeviceArray d_pixels(pixels.tensor), d_w(w.tensor), d_b(b.tensor), d_out(static_cast<size_t>(P * pc.D) * sizeof(float));

  OwnedTensor want_exact = OwnedTensor::empty(DType::F32, {P, pc.D});
  ref::patch_embed(pixels.tensor, w.tensor, b.tensor, want_exact.tensor);
  OwnedTensor want_rounded = OwnedTensor::empty(DType::F32, {P, pc.D});
  if (dt != DType::F32) {
    OwnedTensor pr = rounded_to(pixels.tensor, dt);
    ref::patch_embed(pr.tensor, w.tensor, b.tensor, want_rounded.tensor);
  }
  std::vector<int64_t> all_rows(static_cast<size_t>(P));
  for (int64_t i = 0; i < P; ++i) all_rows[static_cast<size_t>(i)] = i;

  std::vector<float> got(static_cast<size_t>(P * pc.D));
  for (GemmAlgo algo : {GemmAlgo::Naive, GemmAlgo::Tiled, GemmAlgo::TensorCore, GemmAlgo::Auto}) {
    if (algo == GemmAlgo::TensorCore && dt == DType::F32) continue;
    const bool rounded = dt != DType::F32 && (algo == GemmAlgo::TensorCore || algo == GemmAlgo::Auto);
    std::fill(got.begin(), got.end(), NAN);
    cuda::patch_embed_gemm(d_pixels.as<float>(), pc.C, pc.S, pc.p, d_w.get(), dt, d_b.get(), dt, d_out.as<float>(),
                           pc.D, algo);
    d_out.download(got.data(), got.size() * sizeof(float));
    EXPECT_LE(max_rel_rows(got, pc.D, all_rows, rounded ? want_rounded.tensor : want_exact.tensor),
              rounded ? 1e-4 : 1e-5)
        << algo_name(algo);
  }
}

}  // namespace

TEST(CudaPatchEmbedGemm, MatchesReference) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  // SigLIP's 384×384 image in 14×14 patches (K = 588, not a multiple of 8), odd sizes with leftover
  // pixel rows/columns (30 = 4·7 + 2; 17 = 4·4 + 1), and K a multiple of 8 (2·4·4 = 32).
  const std::vector<PatchCase> cases = {{3, 384, 14, 1152}, {3, 30, 7, 13}, {2, 17, 4, 9}, {1, 5, 5, 3}, {1, 3, 1, 130}};
  for (const PatchCase& pc : cases)
    for (DType dt : {kF32, kF16, kBF16}) check_patch_embed(pc, dt);
}
