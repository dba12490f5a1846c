// tests/kernels/test_cuda_ops.cpp — the CUDA versions of the small ops (norms, activations, RoPE,
// embedding gather, copies, argmax) against kernels/ref on random data, through the public ops.h entry
// points with tensors on Device::CUDA. GEMM and attention have their own files (test_cuda_gemm.cpp,
// test_cuda_attention.cpp). Skips without a visible CUDA device.
//
// Bound: 1e-5 × max |reference| (F32 math; the GPU sums rows in F32, the reference in F64).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/ops.h"
#include "kernels/ref/ref.h"
#include "tensor/buffer.h"
#include "tensor/error.h"
#include "test_util.h"

using namespace tl;

namespace {

const ops::Context kOps;  // CUDA tensors go to kernels/cuda; CPU ones to the F32 CPU kernels

OwnedTensor random_host(DType dt, const std::vector<int64_t>& shape, float scale = 1.0f) {
  OwnedTensor f = OwnedTensor::empty(DType::F32, shape);
  std::normal_distribution<float> nd(0.0f, scale);
  std::mt19937& rng = tl::test::test_rng();
  for (int64_t i = 0; i < f.tensor.numel(); ++i) f.tensor.ptr<float>()[i] = nd(rng);
  if (dt == DType::F32) return f;
  OwnedTensor w = OwnedTensor::empty(dt, shape);
  convert_from_f32(f.tensor.ptr<float>(), w.tensor.data, dt, static_cast<size_t>(f.tensor.numel()));
  return w;
}

OwnedTensor to_device(const Tensor& h) {
  OwnedTensor d = OwnedTensor::empty(h.dtype, h.shape_vec(), Device::CUDA);
  cuda_copy_to_device(d.tensor.data, h.data, h.nbytes());
  return d;
}

OwnedTensor to_host(const Tensor& d) {
  OwnedTensor h = OwnedTensor::empty(d.dtype, d.shape_vec());
  cuda_copy_to_host(h.tensor.data, d.data, d.nbytes());
  return h;
}

void expect_close(const Tensor& got_device, const Tensor& want, double tol, const char* what) {
  OwnedTensor got = to_host(got_device);
  ASSERT_EQ(got.tensor.shape_vec(), want.shape_vec()) << what;
  double max_ref = 0, max_diff = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(want.ptr<float>()[i])));
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(got.tensor.ptr<float>()[i]) - want.ptr<float>()[i]));
  }
  EXPECT_LE(max_diff, tol * std::max(max_ref, 1e-30)) << what;
}

class CudaOps : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  }
};

}  // namespace

TEST_F(CudaOps, Norms) {
  for (DType wdt : {DType::F32, DType::F16, DType::BF16})
    for (auto shape : std::vector<std::vector<int64_t>>{{1, 1}, {3, 7}, {729, 1152}, {5, 1536}, {774 * 4, 64}, {33, 4, 72}}) {
      const int64_t D = shape.back();
      OwnedTensor x = random_host(DType::F32, shape, 3.0f), w = random_host(wdt, {D}), b = random_host(wdt, {D});
      OwnedTensor dx = to_device(x.tensor), dw = to_device(w.tensor), db = to_device(b.tensor);
      OwnedTensor want = OwnedTensor::empty(DType::F32, shape), dy = OwnedTensor::empty(DType::F32, shape, Device::CUDA);
      ref::layernorm(x.tensor, w.tensor, b.tensor, 1e-6f, want.tensor);
      ops::layernorm(kOps, dx.tensor, dw.tensor, db.tensor, 1e-6f, dy.tensor);
      expect_close(dy.tensor, want.tensor, 1e-5, "layernorm");
      ref::rmsnorm(x.tensor, w.tensor, 1e-6f, want.tensor);
      ops::rmsnorm(kOps, dx.tensor, dw.tensor, 1e-6f, dx.tensor);  // in place, as OpenELM's q/k norms
      expect_close(dx.tensor, want.tensor, 1e-5, "rmsnorm");
    }
}

TEST_F(CudaOps, Activations) {
  for (int64_t n : {1, 31, 4097, 729 * 4304}) {
    OwnedTensor x = random_host(DType::F32, {n}, 4.0f);
    for (int which = 0; which < 3; ++which) {
      OwnedTensor want = random_host(DType::F32, {n});
      std::copy_n(x.tensor.ptr<float>(), n, want.tensor.ptr<float>());
      OwnedTensor d = to_device(x.tensor);
      if (which == 0) ref::gelu_tanh(want.tensor), ops::gelu_tanh(kOps, d.tensor);
      if (which == 1) ref::gelu_erf(want.tensor), ops::gelu_erf(kOps, d.tensor);
      if (which == 2) ref::silu(want.tensor), ops::silu(kOps, d.tensor);
      expect_close(d.tensor, want.tensor, 1e-6, which == 0 ? "gelu_tanh" : which == 1 ? "gelu_erf" : "silu");
    }
  }
  for (auto tf : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 17}, {774, 4096}}) {
    OwnedTensor g = random_host(DType::F32, {tf.first, 2 * tf.second}, 3.0f);
    OwnedTensor want = OwnedTensor::empty(DType::F32, {tf.first, tf.second});
    OwnedTensor dg = to_device(g.tensor), dout = OwnedTensor::empty(DType::F32, {tf.first, tf.second}, Device::CUDA);
    ref::silu_mul(g.tensor, want.tensor);
    ops::silu_mul(kOps, dg.tensor, dout.tensor);
    expect_close(dout.tensor, want.tensor, 1e-6, "silu_mul");
    OwnedTensor a = random_host(DType::F32, {tf.first, tf.second}), b = random_host(DType::F32, {tf.first, tf.second});
    OwnedTensor da = to_device(a.tensor), dbb = to_device(b.tensor);
    ref::add(a.tensor, b.tensor);
    ops::add(kOps, da.tensor, dbb.tensor);
    expect_close(da.tensor, a.tensor, 0, "add");
  }
}

TEST_F(CudaOps, RopeAtOffsets) {
  const ops::RopeTable table = ops::RopeTable::make(64, 10000.0, 2048);
  for (auto c : std::vector<std::array<int64_t, 3>>{{1, 1, 0}, {7, 3, 5}, {774, 16, 0}, {1, 4, 2047}}) {
    OwnedTensor x = random_host(DType::F32, {c[0], c[1], 64});
    OwnedTensor d = to_device(x.tensor);
    ref::rope(x.tensor, c[2], table);
    ops::rope(kOps, d.tensor, c[2], table);
    expect_close(d.tensor, x.tensor, 1e-6, "rope");
  }
}

TEST_F(CudaOps, EmbedCopyAndArgmax) {
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    OwnedTensor table = random_host(dt, {300, 24});
    OwnedTensor dtab = to_device(table.tensor);
    const std::vector<int> ids = {0, 299, 17, 17, 5};
    OwnedTensor want = OwnedTensor::empty(DType::F32, {5, 24}), dout = OwnedTensor::empty(DType::F32, {5, 24}, Device::CUDA);
    ref::embed(table.tensor, ids.data(), 5, want.tensor);
    ops::embed(kOps, dtab.tensor, ids.data(), 5, dout.tensor);
    expect_close(dout.tensor, want.tensor, 0, "embed");
  }
  OwnedTensor src = random_host(DType::F32, {9, 40});
  OwnedTensor dsrc = to_device(src.tensor), dcols = OwnedTensor::empty(DType::F32, {9, 13}, Device::CUDA);
  ops::copy_columns(dsrc.tensor, 21, dcols.tensor);
  OwnedTensor cols = to_host(dcols.tensor);
  for (int t = 0; t < 9; ++t)
    for (int j = 0; j < 13; ++j) ASSERT_EQ(cols.tensor.ptr<float>()[t * 13 + j], src.tensor.ptr<float>()[t * 40 + 21 + j]);
  OwnedTensor dcopy = OwnedTensor::empty(DType::F32, {360}, Device::CUDA);
  ops::copy(dsrc.tensor, dcopy.tensor);
  expect_close(dcopy.tensor, src.tensor.reshape({360}), 0, "copy");

  for (int64_t n : {1, 5, 1023, 1025, 32000}) {
    OwnedTensor x = random_host(DType::F32, {n});
    float* p = x.tensor.ptr<float>();
    const int64_t at = (n * 7) / 10;
    p[at] = 100.0f;
    if (at + 3 < n) p[at + 3] = 100.0f;  // a tie: the first wins
    OwnedTensor d = to_device(x.tensor);
    EXPECT_EQ(ops::argmax(d.tensor), at) << n;
    EXPECT_EQ(ops::argmax(x.tensor), at) << n;
  }
}

TEST_F(CudaOps, MismatchedDevicesAreRefused) {
  OwnedTensor x = random_host(DType::F32, {2, 8}), w = random_host(DType::F32, {8});
  OwnedTensor dy = OwnedTensor::empty(DType::F32, {2, 8}, Device::CUDA);
  EXPECT_THROW(ops::rmsnorm(kOps, x.tensor, w.tensor, 1e-6f, dy.tensor), Error);
}
