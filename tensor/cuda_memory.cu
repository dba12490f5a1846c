// tensor/cuda_memory.cu — device memory for Buffer in CUDA builds (tensor/buffer.h hooks).
// Every CUDA call is checked; a failure is an internal error naming the call and CUDA's message.
#include <cuda_runtime.h>

#include "tensor/buffer.h"
#include "tensor/error.h"

namespace tl {

static void cuda_check(cudaError_t e, const char* what, size_t bytes) {
  if (e != cudaSuccess)
    fail_internal("CUDA %s (%zu bytes): %s", what, bytes, cudaGetErrorString(e));
}

bool cuda_available() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return false;
  }
  return n > 0;
}

void* cuda_malloc(size_t bytes) {
  void* p = nullptr;
  cuda_check(cudaMalloc(&p, bytes), "cudaMalloc", bytes);
  return p;
}

void cuda_free(void* p) { cudaFree(p); }

void cuda_copy_to_device(void* dst, const void* src, size_t bytes) {
  cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "copy to device", bytes);
}

void cuda_copy_to_host(void* dst, const void* src, size_t bytes) {
  cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "copy to host", bytes);
}

}  // namespace tl
