// tests/tensor/test_tensor.cpp — Tensor views, owning buffers, the activation arena, device buffers.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "tensor/buffer.h"
#include "tensor/error.h"
#include "tensor/tensor.h"

using namespace tl;

TEST(Tensor, ContiguousViewShapes) {
  std::vector<float> data(2 * 3 * 4 * 5);
  Tensor t = Tensor::view(data.data(), DType::F32, {2, 3, 4, 5});
  EXPECT_EQ(t.ndim, 4);
  EXPECT_EQ(t.numel(), 120);
  EXPECT_EQ(t.nbytes(), 480u);
  EXPECT_EQ(t.dim(-1), 5);
  EXPECT_TRUE(t.has_shape({2, 3, 4, 5}));
  EXPECT_FALSE(t.has_shape({2, 3, 20}));
  EXPECT_EQ(shape_str(t), "[2, 3, 4, 5]");
  EXPECT_THROW(Tensor::view(data.data(), DType::F32, {1, 2, 3, 4, 5}), Error);
}

TEST(Tensor, RowsAndReshapeAreViews) {
  std::vector<uint16_t> data(6 * 8);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint16_t>(i);
  Tensor t = Tensor::view(data.data(), DType::F16, {6, 8});
  Tensor r = t.row(2);
  EXPECT_EQ(r.ndim, 1);
  EXPECT_EQ(r.ptr<uint16_t>()[0], 16);
  Tensor s = t.rows(1, 4);
  EXPECT_TRUE(s.has_shape({3, 8}));
  EXPECT_EQ(s.ptr<uint16_t>()[0], 8);
  Tensor h = t.reshape({6, 2, 4});
  EXPECT_EQ(h.row(5).row(1).ptr<uint16_t>()[3], 5 * 8 + 4 + 3);
  EXPECT_THROW(t.reshape({7, 8}), Error);
  EXPECT_THROW(t.row(6), Error);
}

TEST(Tensor, CheckedNumelRejectsOverflowAndNegatives) {
  EXPECT_EQ(checked_numel({}, "x"), 1);
  EXPECT_EQ(checked_numel({3, 0, 5}, "x"), 0);
  EXPECT_THROW(checked_numel({1ll << 40, 1ll << 40}, "x"), Error);
  EXPECT_THROW(checked_numel({-1, 2}, "x"), Error);
  // A zero does not excuse overflowing strides (fuzzer finding: a (0, 5e5, 4.7e11, 4.7e9) .npy).
  EXPECT_THROW(checked_numel({0, 536122, 466666660244, 4666666641}, "x"), Error);
}

TEST(Buffer, HostMemoryIsAlignedAndMovable) {
  Buffer b(1000);
  ASSERT_NE(b.data(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % kAlignment, 0u);
  void* p = b.data();
  Buffer c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(b.data(), nullptr);
  OwnedTensor o = OwnedTensor::empty(DType::BF16, {3, 7});
  EXPECT_EQ(o.buffer.size(), 42u);
  EXPECT_TRUE(o.tensor.has_shape({3, 7}));
}

TEST(Arena, BumpAllocatesAlignedAndReleasesToMark) {
  Arena a(4096);
  Tensor x = a.alloc(DType::F32, {3, 5});  // 60 bytes -> one 64-byte slot
  EXPECT_EQ(reinterpret_cast<uintptr_t>(x.data) % kAlignment, 0u);
  EXPECT_EQ(a.used(), 64u);
  size_t m = a.mark();
  Tensor y = a.alloc(DType::F16, {100});
  EXPECT_EQ(static_cast<char*>(y.data) - static_cast<char*>(x.data), 64);
  EXPECT_EQ(a.used(), 64u + 256u);
  a.release(m);
  EXPECT_EQ(a.used(), 64u);
  EXPECT_EQ(a.high_water(), 320u);
  Tensor z = a.alloc(DType::F16, {100});
  EXPECT_EQ(z.data, y.data);  // memory is reused after release
  a.reset();
  EXPECT_EQ(a.used(), 0u);
}

TEST(Arena, ExhaustionIsAnErrorNamingTheRequest) {
  Arena a(256);
  a.alloc(DType::F32, {32});
  try {
    a.alloc(DType::F32, {64, 2});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Internal);
    EXPECT_NE(std::string(e.what()).find("F32 [64, 2]"), std::string::npos) << e.what();
  }
}

TEST(DeviceBuffer, RoundTripThroughDeviceMemory) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device visible (or built without CUDA)";
  std::vector<float> host(1000), back(1000);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<float>(i) * 0.5f;
  Buffer d(host.size() * 4, Device::CUDA);
  cuda_copy_to_device(d.data(), host.data(), host.size() * 4);
  cuda_copy_to_host(back.data(), d.data(), host.size() * 4);
  EXPECT_EQ(host, back);
  Arena arena(1 << 20, Device::CUDA);
  Tensor t = arena.alloc(DType::F16, {128, 64});
  EXPECT_EQ(t.device, Device::CUDA);
}

#ifndef TINYLLAVA_HAS_CUDA
TEST(DeviceBuffer, WithoutCudaDeviceMemoryIsRefusedClearly) {
  try {
    Buffer d(16, Device::CUDA);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("built without CUDA"), std::string::npos) << e.what();
  }
}
#endif
