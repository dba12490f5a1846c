// tensor/tensor.h — a non-owning view of an n-dimensional array (n <= 4).
//
// A Tensor is plain data: {dtype, device, shape, data pointer}, always contiguous (row-major): every
// view the engine takes (rows, reshape) of a contiguous array is one, so no strides are stored. It
// never owns memory; Buffer and Arena (tensor/buffer.h) do, and weights are views into the mmapped
// checkpoint.
// Shapes are written outermost first, like PyTorch: a Linear weight is [out_features, in_features]
// and row i of it is contiguous.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace tl {

enum class Device : uint8_t { CPU, CUDA };
const char* device_name(Device d);

struct Tensor {
  static constexpr int kMaxDims = 4;

  DType dtype = DType::F32;
  Device device = Device::CPU;
  int ndim = 0;
  int64_t shape[kMaxDims] = {0, 0, 0, 0};
  void* data = nullptr;
  // Q8/Q4 weight matrices only (tensor/quant.h): the [rows, quant_groups(K)] F16 scales; `data` holds
  // the codes, quant_row_bytes per row, and shape stays the logical [N, K].
  const uint16_t* scales = nullptr;

  // A contiguous (row-major) view of `data` with the given shape.
  static Tensor view(void* data, DType dtype, const std::vector<int64_t>& shape,
                     Device device = Device::CPU);

  bool defined() const { return data != nullptr || numel() == 0; }
  int64_t dim(int i) const;  // negative i counts from the end, like PyTorch
  int64_t numel() const;
  size_t nbytes() const;  // numel × element size: the bytes spanned (Q8/Q4: the codes only)
  std::vector<int64_t> shape_vec() const { return {shape, shape + ndim}; }
  bool has_shape(const std::vector<int64_t>& s) const;

  // Views along the outermost dimension.
  Tensor row(int64_t i) const;                     // [d0, d1, ...] -> [d1, ...]
  Tensor rows(int64_t begin, int64_t end) const;   // [d0, ...] -> [end - begin, ...] (Q8/Q4 too)
  Tensor reshape(const std::vector<int64_t>& new_shape) const;  // same element count

  template <typename T>
  T* ptr() const { return static_cast<T*>(data); }
};

// "[1152, 3, 14, 14]"
std::string shape_str(const std::vector<int64_t>& shape);
std::string shape_str(const Tensor& t);

// Product of the dimensions; fails (BadInput, naming `what`) on negative dims or when the product of
// the non-zero dimensions overflows int64 (so strides of any view of the shape fit).
int64_t checked_numel(const std::vector<int64_t>& shape, const char* what);

}  // namespace tl
