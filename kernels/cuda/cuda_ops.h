// kernels/cuda/cuda_ops.h — the CUDA implementation of kernels/ops.h, and the raw launchers the
// tests and benchmarks call directly.
//
// The ops in kernels/ops.h run here when their tensors live on Device::CUDA (kernels/ops.cpp dispatches
// on the device of the output); same contracts, same shapes. Activations are F32; weights stay in their
// stored dtype (F32, F16, BF16). Matrix products with F16/BF16 weights run on tensor cores with the
// activations rounded to the weight's dtype and F32 accumulation (a bf16/f16-level error, stated in
// the README); F32 weights run an F32 SIMT kernel (exact F32 math, summation order aside).
// Built with CUDA (TINYLLAVA_HAS_CUDA); without it ops_cuda_none.cpp defines the ops the dispatch calls
// as internal errors (no tensor can live on the GPU then: tensor/buffer.h refuses device memory).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "kernels/types.h"
#include "tensor/tensor.h"

namespace tl::cuda {

// ---- ops.h on CUDA tensors (shapes and dtypes checked like the CPU ops) ------------------------------
void matmul(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, ops::Epilogue epi);
void layernorm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y);
void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& y);
void gelu_tanh(Tensor& x);
void gelu_erf(Tensor& x);
void silu(Tensor& x);
void silu_mul(const Tensor& gate_up, Tensor& out);
void add(Tensor& y, const Tensor& x);
void rope(Tensor& x, int64_t pos0, const ops::RopeTable& table);
void attention(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, float scale, int64_t causal_offset);
void patch_embed(const Tensor& pixels, const Tensor& w, const Tensor& b, Tensor& out);
void embed(const Tensor& table, const int* ids, int64_t n, Tensor& out);
void copy(const Tensor& src, Tensor& dst);
void copy_columns(const Tensor& src, int64_t col0, Tensor& dst);
int64_t argmax(const Tensor& x);

// Waits for every kernel queued on the engine's stream; reports asynchronous faults.
void synchronize();

// ---- this GPU's ceilings (ceilings.cu), what `tinyllava roofline --device cuda` draws under ----------
struct DeviceCeilings {
  std::string name;            // "NVIDIA H200"
  int sms = 0, compute_capability = 0;  // 90 for sm_90
  double read_gbs = 0;         // device memory read bandwidth
  double fp32_gflops = 0;      // fp32 FMA (SIMT cores)
  double f16_tc_gflops = 0, bf16_tc_gflops = 0;  // tensor cores, F32 accumulate; 0 below sm_80
};
// Measured on the current device: the read over a buffer of read_bytes, each peak best of 5 launches.
DeviceCeilings measure_ceilings(size_t read_bytes = size_t{1} << 30);

// ---- decode steps without host round trips ------------------------------------------------------------
// out[n, D] = table[d_ids[i], :] with the ids already in device memory (no host copy: capturable).
// Ids are clamped to the table (they come from argmax_on_device, always in range).
void embed_ids_on_device(const Tensor& table, const int* d_ids, int64_t n, Tensor& out);
// *d_out = argmax of x (first on ties), left in device memory: no synchronization.
void argmax_on_device(const Tensor& x, int* d_out);

// A decode step as a CUDA graph. run(body) records everything body launches on stream() (stream
// capture), then launches it as one graph: the first time by instantiating it, afterwards by updating
// the executable graph in place (cudaGraphExecUpdate: same kernels, new arguments such as the position)
// and re-instantiating only if the update is refused. body must not synchronize, allocate or copy from
// pageable host memory; the workspace must already be large enough (reserve it first).
class StepGraph {
 public:
  StepGraph() = default;
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;
  void run(const std::function<void()>& body);
  int instantiations() const { return instantiations_; }  // 1 when every later step updated in place

 private:
  void* exec_ = nullptr;  // cudaGraphExec_t
  int instantiations_ = 0;
};

// Grows the scratch workspace to at least `bytes` now (outside any capture).
void reserve_workspace(size_t bytes);

// ---- raw launchers (device pointers, all on cuda::stream()) ------------------------------------------
// Kernel ladders: every rung stays callable so tests check each one and bench_cuda compares them.
enum class GemmAlgo {
  Auto,        // what matmul uses: GEMV for T <= kGemvMaxRows, else TensorCore (F16/BF16) or Tiled (F32)
  Naive,       // one thread per output, F32 math straight from global memory
  Tiled,       // shared-memory tiles, 4x4 outputs per thread, F32 math (any weight dtype)
  TensorCore,  // mma.sync m16n8k16 + ldmatrix + cp.async multi-stage pipeline (F16/BF16 weights only)
  Gemv,        // M = 1 style: one warp per output row, 16-byte weight loads (T <= kGemvMaxRows)
};
constexpr int64_t kGemvMaxRows = 8;
const char* algo_name(GemmAlgo a);

// y[T, N] = epi(x[T, K] · w[N, K]ᵀ + bias[N])   (bias may be null; its dtype is bias_dt)
void gemm(const float* x, int64_t T, int64_t K, const void* w, DType w_dt, const void* bias, DType bias_dt,
          float* y, int64_t N, ops::Epilogue epi, GemmAlgo algo = GemmAlgo::Auto);

// Patch embedding as one GEMM over patches with the pixel gather fused into the A-tile loads:
// out[P, D] = patches(pixels[C, S, S]) · w[D, C·p·p]ᵀ + b[D].
void patch_embed_gemm(const float* pixels, int64_t C, int64_t S, int64_t p, const void* w, DType w_dt,
                      const void* b, DType b_dt, float* out, int64_t D, GemmAlgo algo = GemmAlgo::Auto);

enum class AttentionAlgo {
  Auto,    // Flash for prefill, SplitK for T = 1 with long S
  Naive,   // one block per (query, head), scores in shared memory (S limited by shared memory)
  Flash,   // tiles of queries, online softmax over key tiles, no T×S matrix
  SplitK,  // decode: keys split across blocks, partial (max, sum, acc) combined by a second kernel
};
const char* algo_name(AttentionAlgo a);
// out[T, H, Dh] = softmax(scale · q kᵀ (+ causal mask)) v, q[T, H, Dh], k/v[S, Hkv, Dh] contiguous;
// query t sees keys j <= t + causal_offset, or all keys when causal_offset < 0.
void attention_raw(const float* q, const float* k, const float* v, float* out, int64_t T, int64_t S, int64_t H,
                   int64_t Hkv, int64_t Dh, float scale, int64_t causal_offset,
                   AttentionAlgo algo = AttentionAlgo::Auto);

// Workspace the decode (T = 1) attention needs over S keys with H query heads of Dh, and loading its
// kernels now (so that a graph capture never is their first launch).
size_t attention_decode_workspace_bytes(int64_t S, int64_t H, int64_t Dh);
void attention_load_kernels();

// Index of the largest of n floats (the first on ties), computed on the device; returns it to the host.
int64_t argmax_raw(const float* x, int64_t n);

}  // namespace tl::cuda
