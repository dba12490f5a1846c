// kernels/cuda/common.cuh — what every CUDA kernel file shares: error checks, the engine's stream, a
// growable scratch workspace, and loading F32/F16/BF16 values as float on the device.
//
// CUDA_CHECK wraps every runtime call; CUDA_CHECK_LAUNCH follows every kernel launch (launch errors are
// reported at once; asynchronous faults at the next synchronizing call, which is checked too). A
// failure is an internal error (tl::Error) naming the call, the file and line, and CUDA's message.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "tensor/arith.h"
#include "tensor/dtype.h"
#include "tensor/error.h"

#define CUDA_CHECK(call)                                                                            \
  do {                                                                                              \
    cudaError_t tl_err_ = (call);                                                                   \
    if (tl_err_ != cudaSuccess)                                                                     \
      ::tl::fail_internal("CUDA %s at %s:%d: %s", #call, __FILE__, __LINE__, cudaGetErrorString(tl_err_)); \
  } while (0)

#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

namespace tl::cuda {

// The stream every engine kernel runs on (created on first use; decode graphs are captured on it).
cudaStream_t stream();
// Waits for the stream and reports any asynchronous fault.
void synchronize();

// Scratch device memory for a kernel's temporaries (e.g. activations converted to f16/bf16, split-K
// partial sums). Grows on demand and is never shrunk; the pointer stays valid until the next call with
// a larger size. Not for data that must outlive one op.
void* workspace(size_t bytes);

inline unsigned int blocks_for(int64_t n, int threads) { return static_cast<unsigned int>(ceil_div<int64_t>(n, threads)); }

// Element i of a F32, F16 or BF16 array as float (dtype chosen at run time; the branch is uniform).
__device__ __forceinline__ float load_f32(const void* p, DType dt, int64_t i) {
  switch (dt) {
    case DType::F16: return __half2float(static_cast<const __half*>(p)[i]);
    case DType::BF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

}  // namespace tl::cuda
