// tensor/buffer.cpp — Buffer, OwnedTensor and Arena.
#include "tensor/buffer.h"

#include <cstring>

#include <cstdlib>
#include <new>
#include <utility>

#include "tensor/arith.h"
#include "tensor/error.h"

namespace tl {

Buffer::Buffer(size_t bytes, Device device) : size_(bytes), device_(device) {
  if (bytes == 0) return;
  if (device == Device::CPU) {
    data_ = std::aligned_alloc(kAlignment, round_up<size_t>(bytes, kAlignment));
    if (!data_) throw std::bad_alloc();
  } else {
    data_ = cuda_malloc(bytes);
  }
}

Buffer::~Buffer() { release(); }

void Buffer::release() {
  if (data_) {
    if (device_ == Device::CPU) std::free(data_);
    else cuda_free(data_);
  }
  data_ = nullptr;
  size_ = 0;
}

Buffer::Buffer(Buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      device_(other.device_) {}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    device_ = other.device_;
  }
  return *this;
}

OwnedTensor OwnedTensor::empty(DType dtype, const std::vector<int64_t>& shape, Device device) {
  OwnedTensor o;
  int64_t n = checked_numel(shape, "tensor");
  o.buffer = Buffer(static_cast<size_t>(n) * dtype_size(dtype), device);
  o.tensor = Tensor::view(o.buffer.data(), dtype, shape, device);
  return o;
}

OwnedTensor OwnedTensor::copy_of(const Tensor& t, Device device) {
  OwnedTensor c = empty(t.dtype, t.shape_vec(), device);
  if (t.nbytes() == 0) return c;
  if (t.device == Device::CPU && device == Device::CPU)
    std::memcpy(c.tensor.data, t.data, t.nbytes());
  else if (t.device == Device::CPU)
    cuda_copy_to_device(c.tensor.data, t.data, t.nbytes());
  else if (device == Device::CPU)
    cuda_copy_to_host(c.tensor.data, t.data, t.nbytes());
  else
    fail_internal("OwnedTensor::copy_of: device to device copies are not supported");
  return c;
}

Arena::Arena(size_t capacity_bytes, Device device) : buffer_(capacity_bytes, device) {}

Tensor Arena::alloc(DType dtype, const std::vector<int64_t>& shape) {
  int64_t n = checked_numel(shape, "arena allocation");
  size_t bytes = round_up<size_t>(static_cast<size_t>(n) * dtype_size(dtype), kAlignment);
  if (bytes > buffer_.size() - used_)
    fail_internal("arena exhausted: %s %s needs %zu bytes, %zu of %zu free", dtype_name(dtype),
                  shape_str(shape).c_str(), bytes, buffer_.size() - used_, buffer_.size());
  void* p = static_cast<char*>(buffer_.data()) + used_;
  used_ += bytes;
  if (used_ > high_water_) high_water_ = used_;
  return Tensor::view(p, dtype, shape, buffer_.device());
}

void Arena::release(size_t mark) {
  TL_CHECK(mark <= used_);
  used_ = mark;
}

}  // namespace tl
