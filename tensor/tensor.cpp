// tensor/tensor.cpp — Tensor view helpers.
#include "tensor/tensor.h"

#include "tensor/error.h"
#include "tensor/quant.h"

namespace tl {

const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

Tensor Tensor::view(void* data, DType dtype, const std::vector<int64_t>& shape, Device device) {
  if (shape.size() > static_cast<size_t>(kMaxDims))
    fail_internal("Tensor::view: %zu dimensions (expected at most %d)", shape.size(), kMaxDims);
  Tensor t;
  t.dtype = dtype;
  t.device = device;
  t.ndim = static_cast<int>(shape.size());
  t.data = data;
  for (int i = t.ndim - 1; i >= 0; --i) {
    TL_CHECK(shape[i] >= 0);
    t.shape[i] = shape[i];
  }
  return t;
}

int64_t Tensor::dim(int i) const {
  int k = i < 0 ? i + ndim : i;
  if (k < 0 || k >= ndim) fail_internal("Tensor::dim(%d) of a %d-D tensor", i, ndim);
  return shape[k];
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= shape[i];
  return n;
}

size_t Tensor::nbytes() const {
  if (is_quantized(dtype)) {
    TL_CHECK(ndim == 2);
    return static_cast<size_t>(shape[0] * quant_row_bytes(dtype, shape[1]));
  }
  return static_cast<size_t>(numel()) * dtype_size(dtype);
}

bool Tensor::has_shape(const std::vector<int64_t>& s) const {
  if (static_cast<int>(s.size()) != ndim) return false;
  for (int i = 0; i < ndim; ++i)
    if (shape[i] != s[i]) return false;
  return true;
}

Tensor Tensor::row(int64_t i) const {
  TL_CHECK(ndim >= 1 && i >= 0 && i < shape[0] && !is_quantized(dtype));
  Tensor t;
  t.dtype = dtype;
  t.device = device;
  t.ndim = ndim - 1;
  for (int d = 1; d < ndim; ++d) t.shape[d - 1] = shape[d];
  t.data = static_cast<char*>(data) + i * static_cast<int64_t>(t.nbytes());
  return t;
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  TL_CHECK(ndim >= 1 && 0 <= begin && begin <= end && end <= shape[0]);
  Tensor t = *this;
  t.shape[0] = 1;
  const int64_t row_bytes = static_cast<int64_t>(t.nbytes());
  t.shape[0] = end - begin;
  t.data = static_cast<char*>(data) + begin * row_bytes;
  if (scales) t.scales = scales + begin * quant_groups(shape[1]);
  return t;
}

Tensor Tensor::reshape(const std::vector<int64_t>& new_shape) const {
  TL_CHECK(!is_quantized(dtype));  // its scales belong to its row length
  Tensor t = view(data, dtype, new_shape, device);
  if (t.numel() != numel())
    fail_internal("reshape %s -> %s changes the element count", shape_str(*this).c_str(),
                  shape_str(new_shape).c_str());
  return t;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string shape_str(const Tensor& t) { return shape_str(t.shape_vec()); }

int64_t checked_numel(const std::vector<int64_t>& shape, const char* what) {
  // The product of the non-zero dimensions must fit too: strides are products of trailing dimensions
  // and would overflow even when a zero elsewhere makes the element count 0.
  int64_t nonzero = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d < 0) fail_input("%s: negative dimension %lld in shape", what, static_cast<long long>(d));
    if (d == 0) {
      empty = true;
      continue;
    }
    if (nonzero > INT64_MAX / d)
      fail_input("%s: shape %s overflows a 64-bit element count", what, shape_str(shape).c_str());
    nonzero *= d;
  }
  return empty ? 0 : nonzero;
}

}  // namespace tl
