// tensor/dtype.h — element types and exact conversions between them.
//
// F32, F16 (IEEE binary16) and BF16 (bfloat16) are the float dtypes a checkpoint may store. I8 and U8
// are the integer dtypes of safetensors: a quantized checkpoint stores its codes in them, and they
// convert here as plain integer values. Q8 and Q4 are the engine's group-quantized weight matrices
// (tensor/quant.h): never a file dtype, only what the loader makes of I8/U8 codes plus F16 scales.
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

enum class DType : uint8_t { F32, F16, BF16, I8, U8, Q8, Q4 };

// Bytes per element; Q8 counts its code byte, Q4 has none (half a byte: see quant_row_bytes).
size_t dtype_size(DType t);
bool is_quantized(DType t);  // Q8 or Q4
// The safetensors spelling: "F32", "F16", "BF16", "I8", "U8"; "Q8", "Q4" for the quantized types.
const char* dtype_name(DType t);
// Parses a safetensors dtype string of a type this engine reads (F32, F16, BF16, I8, U8); false for
// anything else.
bool dtype_from_name(std::string_view name, DType* out);

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

// Bulk row conversions: n elements, src and dst must not overlap. I8/U8 -> f32 is the integer value;
// f32 -> I8 rounds to nearest (ties away from zero) and saturates to [-128, 127], NaN -> 0 (U8 the
// same into [0, 255]). Q8/Q4 need their scales: tensor/quant.h.
void convert_to_f32(const void* src, DType src_type, float* dst, size_t n);
void convert_from_f32(const float* src, void* dst, DType dst_type, size_t n);

}  // namespace tl
