// tests/kernels/test_cuda_attention.cpp — every rung of the CUDA attention ladder (kernels/cuda/attention.cu:
// Naive, Flash, SplitK, and Auto's choice) against ref::attention on random data. Shapes: the model's
// (SigLIP 729 patches × 16 heads of 72; OpenELM prefill with 20 query heads over 5 KV heads; decode over
// 2048 cached keys; prefill of 5 tokens after 15 cached ones) and odd ones that cross every tile edge
// (S = 1, Dh = 5, 72, 80, 96, 128, S not a multiple of the 64-key tiles, SplitK chunks that a causal row
// cannot see). Tolerance: F32 kernels against the F64 reference agree to 1e-5 of max|out|.
// Skips when no CUDA device is visible.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/ref/ref.h"
#include "tensor/buffer.h"
#include "tensor/error.h"
#include "test_util.h"

using namespace tl;
using cuda::AttentionAlgo;
using cuda::algo_name;

namespace {

OwnedTensor random_f32(const std::vector<int64_t>& shape) {
  OwnedTensor t = OwnedTensor::empty(DType::F32, shape);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::mt19937& rng = tl::test::test_rng();
  for (int64_t i = 0; i < t.tensor.numel(); ++i) t.tensor.ptr<float>()[i] = nd(rng);
  return t;
}

// A device copy, complete before any later kernel starts (cudaMemcpy from pageable memory may return
// before its DMA lands, and the engine's stream need not wait for the legacy default stream).
OwnedTensor to_device(const Tensor& host) {
  OwnedTensor d = OwnedTensor::empty(DType::F32, host.shape_vec(), Device::CUDA);
  cuda_copy_to_device(d.tensor.data, host.data, host.nbytes());
  const cudaError_t err = cudaDeviceSynchronize();
  EXPECT_EQ(err, cudaSuccess) << cudaGetErrorString(err);
  return d;
}

// Waits for every stream (the kernels run on the engine's stream), then copies back.
OwnedTensor to_host(const Tensor& device) {
  const cudaError_t err = cudaDeviceSynchronize();
  EXPECT_EQ(err, cudaSuccess) << cudaGetErrorString(err);
  OwnedTensor h = OwnedTensor::empty(DType::F32, device.shape_vec());
  cuda_copy_to_host(h.tensor.data, device.data, device.nbytes());
  return h;
}

double max_rel(const Tensor& got, const Tensor& want) {
  double m = 0, d = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    m = std::max(m, std::fabs(static_cast<double>(want.ptr<float>()[i])));
    d = std::max(d, std::fabs(static_cast<double>(got.ptr<float>()[i]) - want.ptr<float>()[i]));
  }
  if (std::isnan(d)) return INFINITY;
  return d / std::max(m, 1e-30);
}

// Whether Naive's one row of scores (S + Dh floats) fits the device's shared memory per block.
bool naive_fits(int64_t S, int64_t Dh) {
  int dev = 0, optin = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
    return false;
  return static_cast<int64_t>(sizeof(float)) * (S + Dh) + 1024 <= optin;
}

struct Shape {
  const char* name;
  int64_t T, S, H, Hkv, Dh, offset;
  float scale_mul = 1.0f;  // scale = scale_mul / sqrt(Dh); larger values give peaked softmax rows
};

}  // namespace

TEST(CudaAttention, EveryRungMatchesReference) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const int64_t kNC = ops::kNonCausal;
  const std::vector<Shape> shapes = {
      {"siglip", 729, 729, 16, 16, 72, kNC},
      {"openelm_prefill", 774, 774, 20, 5, 64, 0},
      {"openelm_decode", 1, 2048, 20, 5, 64, 2047},
      {"decode_s1000", 1, 1000, 16, 4, 64, 999},
      {"decode_s128", 1, 128, 12, 3, 64, 127},
      {"prefill_after_cache", 5, 20, 12, 3, 64, 15},
      {"t1_s1", 1, 1, 1, 1, 8, kNC},
      {"t1_s1_causal", 1, 1, 2, 1, 8, 0},
      {"odd", 3, 7, 6, 2, 5, kNC},
      {"odd_causal", 3, 7, 6, 2, 5, 4},
      {"causal_33", 33, 33, 8, 2, 64, 0},
      {"first_query_limit_at_tile_edge", 70, 200, 2, 1, 64, 62},  // query 0 sees keys 0..62 of a 64-key tile
      {"first_query_limit_past_tile", 70, 200, 2, 1, 64, 63},
      {"dh72_causal_offset", 70, 130, 4, 2, 72, 60},
      {"dh80_s1000", 100, 1000, 4, 4, 80, 900},
      {"dh96", 17, 65, 2, 1, 96, kNC},
      {"dh128", 65, 200, 4, 1, 128, kNC},
      {"s1000", 37, 1000, 4, 2, 64, kNC},
      {"split_chunks_masked", 4, 300, 8, 2, 64, 100},
      {"peaked", 64, 300, 4, 2, 64, 10, 8.0f},
      {"peaked_decode", 1, 700, 4, 1, 72, 699, 8.0f},
  };
  for (const Shape& s : shapes) {
    OwnedTensor q = random_f32({s.T, s.H, s.Dh});
    OwnedTensor k = random_f32({s.S, s.Hkv, s.Dh}), v = random_f32({s.S, s.Hkv, s.Dh});
    OwnedTensor want = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh});
    const float scale = s.scale_mul / std::sqrt(static_cast<float>(s.Dh));
    ref::attention(q.tensor, k.tensor, v.tensor, want.tensor, scale, s.offset);
    OwnedTensor d_q = to_device(q.tensor), d_k = to_device(k.tensor), d_v = to_device(v.tensor);
    OwnedTensor d_out = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh}, Device::CUDA);
    for (AttentionAlgo algo :
         {AttentionAlgo::Auto, AttentionAlgo::Naive, AttentionAlgo::Flash, AttentionAlgo::SplitK}) {
      if (algo == AttentionAlgo::Naive && !naive_fits(s.S, s.Dh)) continue;
      cuda::attention_raw(d_q.tensor.ptr<float>(), d_k.tensor.ptr<float>(), d_v.tensor.ptr<float>(),
                          d_out.tensor.ptr<float>(), s.T, s.S, s.H, s.Hkv, s.Dh, scale, s.offset, algo);
      OwnedTensor got = to_host(d_out.tensor);
      EXPECT_LE(max_rel(got.tensor, want.tensor), 1e-5)
          << s.name << " " << algo_name(algo) << ": T=" << s.T << " S=" << s.S << " H=" << s.H << " Hkv=" << s.Hkv
          << " Dh=" << s.Dh << " offset=" << s.offset;
    }
  }
}

TEST(CudaAttention, AutoTakesHeadDimsAboveFlashLimit) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const int64_t T = 3, S = 10, H = 2, Hkv = 1, Dh = 136;
  OwnedTensor q = random_f32({T, H, Dh}), k = random_f32({S, Hkv, Dh}), v = random_f32({S, Hkv, Dh});
  OwnedTensor want = OwnedTensor::empty(DType::F32, {T, H, Dh});
  ref::attention(q.tensor, k.tensor, v.tensor, want.tensor, 0.1f, 7);
  OwnedTensor d_q = to_device(q.tensor), d_k = to_device(k.tensor), d_v = to_device(v.tensor);
  OwnedTensor d_out = OwnedTensor::empty(DType::F32, {T, H, Dh}, Device::CUDA);
  cuda::attention_raw(d_q.tensor.ptr<float>(), d_k.tensor.ptr<float>(), d_v.tensor.ptr<float>(),
                      d_out.tensor.ptr<float>(), T, S, H, Hkv, Dh, 0.1f, 7, AttentionAlgo::Auto);
  EXPECT_LE(max_rel(to_host(d_out.tensor).tensor, want.tensor), 1e-5);
}

TEST(CudaAttention, FirstCausalQueryCopiesItsFirstValue) {
  // Query 0 of a causal prefill sees only key 0: p = exp(0) = 1, so every rung returns v[0] (the other keys,
  // and SplitK's other chunks, contribute exact zeros; FLOAT_EQ leaves 4 ulps for expf(0)).
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const int64_t T = 4, S = 300, H = 4, Hkv = 2, Dh = 72;
  OwnedTensor q = random_f32({T, H, Dh}), k = random_f32({S, Hkv, Dh}), v = random_f32({S, Hkv, Dh});
  OwnedTensor d_q = to_device(q.tensor), d_k = to_device(k.tensor), d_v = to_device(v.tensor);
  OwnedTensor d_out = OwnedTensor::empty(DType::F32, {T, H, Dh}, Device::CUDA);
  for (AttentionAlgo algo : {AttentionAlgo::Naive, AttentionAlgo::Flash, AttentionAlgo::SplitK}) {
    cuda::attention_raw(d_q.tensor.ptr<float>(), d_k.tensor.ptr<float>(), d_v.tensor.ptr<float>(),
                        d_out.tensor.ptr<float>(), T, S, H, Hkv, Dh, 0.5f, 0, algo);
    OwnedTensor got = to_host(d_out.tensor);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < Dh; ++d)
        ASSERT_FLOAT_EQ(got.tensor.ptr<float>()[h * Dh + d], v.tensor.ptr<float>()[(h / (H / Hkv)) * Dh + d])
            << algo_name(algo) << " h=" << h << " d=" << d;
  }
}

TEST(CudaAttention, NoKeysGivesZeros) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const int64_t T = 3, H = 4, Dh = 16;
  OwnedTensor q = random_f32({T, H, Dh}), junk = random_f32({T, H, Dh});
  OwnedTensor d_q = to_device(q.tensor), d_out = to_device(junk.tensor);
  cuda::attention_raw(d_q.tensor.ptr<float>(), nullptr, nullptr, d_out.tensor.ptr<float>(), T, 0, H, 2, Dh, 1.0f,
                      ops::kNonCausal);
  OwnedTensor got = to_host(d_out.tensor);
  for (int64_t i = 0; i < got.tensor.numel(); ++i) ASSERT_EQ(got.tensor.ptr<float>()[i], 0.0f) << i;
}

TEST(CudaAttention, PreconditionsAreCheckedNotAssumed) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  OwnedTensor d = OwnedTensor::empty(DType::F32, {1024}, Device::CUDA);  // never read: the checks fail first
  float* p = d.tensor.ptr<float>();
  // 6 query heads over 4 KV heads.
  EXPECT_THROW(cuda::attention_raw(p, p, p, p, 2, 2, 6, 4, 8, 1.0f, 0, AttentionAlgo::Flash), Error);
  // Head dims above 128 for Flash and SplitK.
  EXPECT_THROW(cuda::attention_raw(p, p, p, p, 1, 2, 1, 1, 129, 1.0f, 0, AttentionAlgo::Flash), Error);
  EXPECT_THROW(cuda::attention_raw(p, p, p, p, 1, 2, 1, 1, 129, 1.0f, 0, AttentionAlgo::SplitK), Error);
  // Naive with a row of scores larger than shared memory.
  EXPECT_THROW(cuda::attention_raw(p, p, p, p, 1, int64_t{1} << 17, 1, 1, 8, 1.0f, ops::kNonCausal,
                                   AttentionAlgo::Naive),
               Error);
  const cudaError_t err = cudaDeviceSynchronize();
  EXPECT_EQ(err, cudaSuccess) << cudaGetErrorString(err);
}
