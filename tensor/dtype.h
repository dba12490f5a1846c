// tensor/dtype.h — element types and exact conversions between them.
//
// F32, F16 (IEEE binary16) and BF16 (bfloat16) are the dtypes a checkpoint may store; I8 is reserved
// for quantized weights (a later issue) and converts as a plain integer value here.
//
// Conversions are exact bit manipulations, independent of the FPU mode and of -ffast-math:
//   f16/bf16 -> f32   exact (every value, including subnormals, ±0, ±Inf and NaN payloads)
//   f32 -> f16/bf16   round to nearest, ties to even; overflow to ±Inf; f16 subnormals rounded
//                     correctly; NaN stays NaN (payload truncated, quiet bit set if it would vanish),
//                     so f16 -> f32 -> f16 and bf16 -> f32 -> bf16 are the identity on all 65 536 codes.
// Tested exhaustively in tests/tensor/test_dtype.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tl {

enum class DType : uint8_t { F32, F16, BF16, I8 };

size_t dtype_size(DType t);
// The safetensors spelling: "F32", "F16", "BF16", "I8".
const char* dtype_name(DType t);
// Parses a safetensors dtype string of a type this engine stores; false for anything else.
bool dtype_from_name(std::string_view name, DType* out);

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

// Bulk row conversions: n elements, src and dst must not overlap. I8 -> f32 is the integer value;
// f32 -> I8 rounds to nearest (ties away from zero) and saturates to [-128, 127], NaN -> 0.
void convert_to_f32(const void* src, DType src_type, float* dst, size_t n);
void convert_from_f32(const float* src, void* dst, DType dst_type, size_t n);

}  // namespace tl
