// kernels/cuda/ops_cuda_none.cpp — a build without CUDA: the CUDA ops the dispatch (kernels/ops.cpp)
// can reach are internal errors. They are unreachable in practice: without CUDA no tensor can be on the
// GPU (tensor/buffer.h refuses device memory), but a corrupt Tensor says so rather than crash.
#include "kernels/cuda/cuda_ops.h"
#include "tensor/error.h"

namespace tl::cuda {

namespace {

[[noreturn]] void no_cuda() { fail_internal("a CUDA tensor in a build without CUDA"); }

}  // namespace

void matmul(const Tensor&, const Tensor&, const Tensor*, Tensor&, ops::Epilogue) { no_cuda(); }
void layernorm(const Tensor&, const Tensor&, const Tensor&, float, Tensor&) { no_cuda(); }
void rmsnorm(const Tensor&, const Tensor&, float, Tensor&) { no_cuda(); }
void gelu_tanh(Tensor&) { no_cuda(); }
void gelu_erf(Tensor&) { no_cuda(); }
void silu(Tensor&) { no_cuda(); }
void silu_mul(const Tensor&, Tensor&) { no_cuda(); }
void add(Tensor&, const Tensor&) { no_cuda(); }
void rope(Tensor&, int64_t, const ops::RopeTable&) { no_cuda(); }
void attention(const Tensor&, const Tensor&, const Tensor&, Tensor&, float, int64_t) { no_cuda(); }
void patch_embed(const Tensor&, const Tensor&, const Tensor&, Tensor&) { no_cuda(); }
void embed(const Tensor&, const int*, int64_t, Tensor&) { no_cuda(); }
void copy(const Tensor&, Tensor&) { no_cuda(); }
void copy_columns(const Tensor&, int64_t, Tensor&) { no_cuda(); }
int64_t argmax(const Tensor&) { no_cuda(); }
void synchronize() {}
DeviceCeilings measure_ceilings(size_t) { no_cuda(); }
void embed_ids_on_device(const Tensor&, const int*, int64_t, Tensor&) { no_cuda(); }
void argmax_on_device(const Tensor&, int*) { no_cuda(); }
StepGraph::~StepGraph() = default;
void StepGraph::run(const std::function<void()>&) { no_cuda(); }
void reserve_workspace(size_t) { no_cuda(); }
size_t attention_decode_workspace_bytes(int64_t, int64_t, int64_t) { return 0; }
void attention_load_kernels() { no_cuda(); }

}  // namespace tl::cuda
