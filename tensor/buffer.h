// tensor/buffer.h — owning memory: Buffer (one allocation) and Arena (bump allocator for activations).
//
// Buffer: 64-byte aligned host memory (cache line / AVX-512 vector) or device memory when the build
// has CUDA. Move-only; freed in the destructor.
//
// Arena: forward passes take their activations from an Arena sized once up front, so a decode step
// allocates nothing. alloc() hands out 64-byte aligned, uninitialised tensors; mark()/release(mark)
// free everything allocated after a mark (stack discipline); high_water() tells how big the arena
// needed to be. Running out is an internal error naming the request — arenas are sized from config.
#pragma once

#include <cstddef>
#include <vector>

#include "tensor/tensor.h"

namespace tl {

constexpr size_t kAlignment = 64;

class Buffer {
 public:
  Buffer() = default;
  Buffer(size_t bytes, Device device = Device::CPU);
  ~Buffer();
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }
  Device device() const { return device_; }

 private:
  void release();
  void* data_ = nullptr;
  size_t size_ = 0;
  Device device_ = Device::CPU;
};

// A tensor together with the memory it views.
struct OwnedTensor {
  Buffer buffer;
  Tensor tensor;
  static OwnedTensor empty(DType dtype, const std::vector<int64_t>& shape,
                           Device device = Device::CPU);
  // A copy of `t` (CPU or CUDA) on `device`.
  static OwnedTensor copy_of(const Tensor& t, Device device = Device::CPU);
};

class Arena {
 public:
  Arena() = default;
  Arena(size_t capacity_bytes, Device device = Device::CPU);

  Tensor alloc(DType dtype, const std::vector<int64_t>& shape);
  size_t mark() const { return used_; }
  void release(size_t mark);  // frees everything allocated after `mark`
  void reset() { release(0); }

  size_t used() const { return used_; }
  size_t capacity() const { return buffer_.size(); }
  size_t high_water() const { return high_water_; }
  Device device() const { return buffer_.device(); }

 private:
  Buffer buffer_;
  size_t used_ = 0;
  size_t high_water_ = 0;
};

// Device memory hooks (tensor/cuda_memory.cu in CUDA builds; refusing stubs otherwise).
bool cuda_available();  // built with CUDA and at least one device is visible
void* cuda_malloc(size_t bytes);
void cuda_free(void* p);
void cuda_copy_to_device(void* dst, const void* src, size_t bytes);
void cuda_copy_to_host(void* dst, const void* src, size_t bytes);

}  // namespace tl
