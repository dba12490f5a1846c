// tools/cuda_emu/ptx_emu.h — emulated replacements for the inline-PTX helpers of kernels/cuda/gemm.cu.
//
// transform.py deletes the .cu file's own definitions (they are `asm volatile` blocks) and puts
// `using namespace ::emu::ptx;` in their place, so the kernels call these with the same signatures.
// Semantics per the PTX ISA: cp.async.cg.shared.global 16 bytes with src-size 0 or 16, commit_group,
// wait_group N; ldmatrix.sync.aligned.m8n8.x4.shared.b16; mma.sync.aligned.m16n8k16.row.col with F32
// accumulators. The emulation itself is in cuda_emu.cpp.
#pragma once

#include <type_traits>

#include "cuda_emu.h"

namespace emu::ptx {

inline void cp_async_16(void* smem, const void* gmem, bool valid) { ::emu::cp_async_16(smem, gmem, valid); }
inline void cp_async_commit() { ::emu::cp_async_commit(); }
template <int kPending>
inline void cp_async_wait() {
  static_assert(kPending >= 0, "wait_group takes a non-negative count");
  ::emu::cp_async_wait(kPending);
}

inline void ldmatrix_x4(uint32_t (&r)[4], const void* smem) { ::emu::ldmatrix_x4(r, smem); }

template <typename T>
inline void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  static_assert(std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>, "mma.sync m16n8k16 takes f16 or bf16");
  ::emu::mma_m16n8k16(d, a, b0, b1, std::is_same_v<T, __half> ? ::emu::MmaType::F16 : ::emu::MmaType::BF16);
}

}  // namespace emu::ptx
