// weights/npy.h — NumPy .npy files: the inspection format of `tinyllava dump` and the input of
// `--pixels`. Writing: little-endian float32 ('<f4') or int64 ('<i8'), C order, format version 1.0.
// Reading: float32 only, C order, versions 1.0–3.0; the header dictionary is parsed strictly and
// the data size checked against the shape before anything is used.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/buffer.h"

namespace tl {

void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data);
void write_npy_i64(const std::string& path, const std::vector<int64_t>& shape, const int64_t* data);

OwnedTensor read_npy_f32(const std::string& path);
// The same from bytes in memory (`source` names them in errors).
OwnedTensor parse_npy_f32(const uint8_t* bytes, size_t size, const std::string& source);

}  // namespace tl
