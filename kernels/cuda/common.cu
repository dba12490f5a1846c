// kernels/cuda/common.cu — the engine's stream and scratch workspace (common.cuh).
#include "kernels/cuda/common.cuh"

#include <mutex>

namespace tl::cuda {

namespace {

std::mutex g_mutex;
cudaStream_t g_stream = nullptr;
void* g_workspace = nullptr;
size_t g_workspace_bytes = 0;

}  // namespace

cudaStream_t stream() {
  std::lock_guard<std::mutex> lock(g_mutex);
  // A blocking stream: plain cudaMemcpy (tensor/cuda_memory.cu) on the legacy stream waits for its kernels.
  if (!g_stream) CUDA_CHECK(cudaStreamCreate(&g_stream));
  return g_stream;
}

void synchronize() { CUDA_CHECK(cudaStreamSynchronize(stream())); }

void* workspace(size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (bytes <= g_workspace_bytes) return g_workspace;
  }
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  CUDA_CHECK(cudaStreamIsCapturing(stream(), &capturing));
  if (capturing != cudaStreamCaptureStatusNone)
    fail_internal("CUDA workspace: %zu bytes needed during graph capture (have %zu; reserve it before capturing)",
                  bytes, g_workspace_bytes);
  // Kernels queued earlier may still read the old block: wait for them before freeing it.
  synchronize();
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_workspace) CUDA_CHECK(cudaFree(g_workspace));
  g_workspace = nullptr;
  g_workspace_bytes = 0;
  const size_t rounded = round_up<size_t>(bytes, size_t{1} << 20);  // whole MiB: fewer regrowths
  CUDA_CHECK(cudaMalloc(&g_workspace, rounded));
  g_workspace_bytes = rounded;
  return g_workspace;
}

}  // namespace tl::cuda
