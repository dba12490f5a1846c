// tensor/cuda_memory_none.cpp — the device-memory hooks of a build without CUDA: every request for
// device memory is refused with a message saying how to get a CUDA build.
#include "tensor/buffer.h"
#include "tensor/error.h"

namespace tl {

bool cuda_available() { return false; }

void* cuda_malloc(size_t bytes) {
  fail_input("--device cuda: this binary was built without CUDA (asked for %zu bytes of device "
             "memory; rebuild with -DTINYLLAVA_CUDA=ON and nvcc installed)", bytes);
}

void cuda_free(void*) {}

void cuda_copy_to_device(void*, const void*, size_t) {
  fail_input("--device cuda: this binary was built without CUDA");
}

void cuda_copy_to_host(void*, const void*, size_t) {
  fail_input("--device cuda: this binary was built without CUDA");
}

}  // namespace tl
