// kernels/cuda/ops_cuda.cu — kernels/ops.h on CUDA tensors: the Tensor-level entry points (checked like
// the CPU ops, then launched on cuda::stream()) and the small memory-bound kernels: norms, activations,
// RoPE, embedding gather, copies and argmax. GEMM, patch embedding and attention live in gemm.cu and
// attention.cu.
//
// Numerics follow the CPU kernels: F32 throughout; row statistics in F32 with warp-tree sums (the CPU
// sums in F64, so norms agree to ~1e-6 relative, not bit for bit); erff/tanhf/expf from CUDA's math
// library (within 2 ulp of the CPU's).
#include <mutex>
#include <vector>

#include "kernels/check.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace tl::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kRowsPerBlock = kThreads / 32;  // norm kernels: one warp per row

// ---- row-wise norms: one warp per row (in place allowed: y may be x, so no __restrict__) ------------

__global__ void layernorm_kernel(const float* x, const void* w, DType w_dt, const void* b, DType b_dt,
                                 int64_t rows, int64_t D, float eps, float* y) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  const float* xr = x + r * D;
  float s = 0;
  for (int64_t i = lane; i < D; i += 32) s += xr[i];
  const float mean = warp_sum(s) / static_cast<float>(D);
  float v = 0;
  for (int64_t i = lane; i < D; i += 32) {
    const float d = xr[i] - mean;
    v += d * d;
  }
  const float rstd = 1.0f / sqrtf(warp_sum(v) / static_cast<float>(D) + eps);
  float* yr = y + r * D;  // may alias xr: each element is read before this lane writes it
  for (int64_t i = lane; i < D; i += 32) yr[i] = (xr[i] - mean) * rstd * load_f32(w, w_dt, i) + load_f32(b, b_dt, i);
}

__global__ void rmsnorm_kernel(const float* x, const void* w, DType w_dt, int64_t rows, int64_t D,
                               float eps, float* y) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (r >= rows) return;
  const float* xr = x + r * D;
  float s = 0;
  for (int64_t i = lane; i < D; i += 32) s += xr[i] * xr[i];
  const float rs = 1.0f / sqrtf(warp_sum(s) / static_cast<float>(D) + eps);
  float* yr = y + r * D;
  for (int64_t i = lane; i < D; i += 32) {
    const float normed = __fmul_rn(xr[i], rs);  // rounded to F32 before the weight, as OpenELM does
    yr[i] = __fmul_rn(normed, load_f32(w, w_dt, i));
  }
}

// ---- element-wise ------------------------------------------------------------------------------------

enum class Act { GeluTanh, GeluErf, Silu };

__device__ __forceinline__ float gelu_tanh_f(float v) {
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  return 0.5f * v * (1.0f + tanhf(k * (v + 0.044715f * v * v * v)));
}
__device__ __forceinline__ float gelu_erf_f(float v) { return 0.5f * v * (1.0f + erff(v * 0.7071067811865476f)); }
__device__ __forceinline__ float silu_f(float v) { return v / (1.0f + expf(-v)); }

__global__ void activation_kernel(float* x, int64_t n, Act act) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = x[i];
  x[i] = act == Act::GeluTanh ? gelu_tanh_f(v) : act == Act::GeluErf ? gelu_erf_f(v) : silu_f(v);
}

__global__ void silu_mul_kernel(const float* __restrict__ gate_up, int64_t T, int64_t F, float* __restrict__ out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= T * F) return;
  const int64_t t = i / F, f = i % F;
  const float g = gate_up[t * 2 * F + f], u = gate_up[t * 2 * F + F + f];
  out[i] = silu_f(g) * u;
}

__global__ void add_kernel(float* __restrict__ y, const float* __restrict__ x, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] += x[i];
}

// Rotate-half RoPE: thread (t, h, j) rotates the pair (j, j + Dh/2) of head h of token t.
__global__ void rope_kernel(float* x, int64_t T, int64_t H, int64_t half, int64_t pos0, const float* __restrict__ cos_t,
                            const float* __restrict__ sin_t) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= T * H * half) return;
  const int64_t j = i % half, th = i / half, t = th / H;
  float* v = x + th * 2 * half;
  const float c = cos_t[(pos0 + t) * half + j], s = sin_t[(pos0 + t) * half + j];
  const float a = v[j], b = v[j + half];
  // Four separate roundings, no fused multiply-add: the CPU kernels' (and PyTorch's) order.
  v[j] = __fadd_rn(__fmul_rn(a, c), __fmul_rn(-b, s));
  v[j + half] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
}

__global__ void embed_kernel(const void* table, DType dt, const int* __restrict__ ids, int64_t n, int64_t D, float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * D) return;
  const int64_t r = i / D, d = i % D;
  out[i] = load_f32(table, dt, static_cast<int64_t>(ids[r]) * D + d);
}

// One block: each thread scans a strided slice, then a tree over (value, index) pairs; ties keep the
// lower index, and NaN counts as larger than everything (torch.argmax's rule).
template <typename Index>
__global__ void argmax_kernel(const float* __restrict__ x, int64_t n, Index* out) {
  __shared__ float best_v[1024];
  __shared__ int64_t best_i[1024];
  float bv = -INFINITY;
  int64_t bi = n;  // index n: "nothing seen", loses every comparison
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = x[i];
    if (isnan(v)) {  // the first NaN of this slice wins it
      bv = v;
      bi = i;
      break;
    }
    if (bi == n || v > bv) {  // strictly greater: ties keep the earlier index
      bv = v;
      bi = i;
    }
  }
  best_v[threadIdx.x] = bv;
  best_i[threadIdx.x] = bi;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      const float ov = best_v[threadIdx.x + s], mv = best_v[threadIdx.x];
      const int64_t oi = best_i[threadIdx.x + s], mi = best_i[threadIdx.x];
      const bool onan = isnan(ov), mnan = isnan(mv);
      bool take;
      if (onan || mnan) take = onan && (!mnan || oi < mi);
      else take = ov > mv || (ov == mv && oi < mi);
      if (take) { best_v[threadIdx.x] = ov; best_i[threadIdx.x] = oi; }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = static_cast<Index>(best_i[0]);
}

// ---- device copies of host-side tables -------------------------------------------------------------

// The RoPE table's cos/sin on the device, uploaded again whenever the host table grows.
struct DeviceRope {
  std::mutex mutex;
  uint64_t serial = 0;  // RopeTable::serial of the uploaded table
  float* cos = nullptr;
  float* sin = nullptr;
};
DeviceRope g_rope;

// A small device buffer for token ids (embed()).
int* g_ids = nullptr;
int64_t g_ids_capacity = 0;
std::mutex g_ids_mutex;

template <typename... Args>
void launch_1d(void (*kernel)(Args...), int64_t n, Args... args) {
  if (n == 0) return;
  kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(args...);
  CUDA_CHECK_LAUNCH();
}

void activation(Tensor& x, Act act, const char* op) {
  check_f32(op, x);
  launch_1d(activation_kernel, x.numel(), x.ptr<float>(), x.numel(), act);
}

}  // namespace

void matmul(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, ops::Epilogue epi) {
  check_matmul(x, w, bias, y);
  gemm(x.ptr<float>(), x.shape[0], x.shape[1], w.data, w.dtype, bias ? bias->data : nullptr,
       bias ? bias->dtype : DType::F32, y.ptr<float>(), w.shape[0], epi);
}

void layernorm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y) {
  check_rowwise("layernorm", x, y, &w, &b);
  const int64_t D = x.shape[x.ndim - 1], rows = x.numel() / D;
  if (rows == 0) return;
  layernorm_kernel<<<blocks_for(rows, kRowsPerBlock), kThreads, 0, stream()>>>(x.ptr<float>(), w.data, w.dtype, b.data,
                                                                                 b.dtype, rows, D, eps, y.ptr<float>());
  CUDA_CHECK_LAUNCH();
}

void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  check_rowwise("rmsnorm", x, y, &w, nullptr);
  const int64_t D = x.shape[x.ndim - 1], rows = x.numel() / D;
  if (rows == 0) return;
  rmsnorm_kernel<<<blocks_for(rows, kRowsPerBlock), kThreads, 0, stream()>>>(x.ptr<float>(), w.data, w.dtype, rows, D,
                                                                               eps, y.ptr<float>());
  CUDA_CHECK_LAUNCH();
}

void gelu_tanh(Tensor& x) { activation(x, Act::GeluTanh, "gelu_tanh"); }
void gelu_erf(Tensor& x) { activation(x, Act::GeluErf, "gelu_erf"); }
void silu(Tensor& x) { activation(x, Act::Silu, "silu"); }

void silu_mul(const Tensor& gate_up, Tensor& out) {
  check_silu_mul(gate_up, out);
  launch_1d(silu_mul_kernel, out.numel(), gate_up.ptr<const float>(), out.shape[0], out.shape[1], out.ptr<float>());
}

void add(Tensor& y, const Tensor& x) {
  check_same("add", y, x);
  launch_1d(add_kernel, y.numel(), y.ptr<float>(), x.ptr<const float>(), y.numel());
}

void rope(Tensor& x, int64_t pos0, const ops::RopeTable& table) {
  check_rope(x, pos0, table);
  const int64_t half = table.head_dim / 2;
  std::lock_guard<std::mutex> lock(g_rope.mutex);
  if (g_rope.serial != table.serial || table.serial == 0) {
    synchronize();  // earlier launches may still read the old copy
    g_rope.serial = 0;  // stale until the new copy is complete (a failed upload must not look current)
    CUDA_CHECK(cudaFree(g_rope.cos));
    CUDA_CHECK(cudaFree(g_rope.sin));
    g_rope.cos = g_rope.sin = nullptr;
    const size_t bytes = table.cos.size() * sizeof(float);
    CUDA_CHECK(cudaMalloc(&g_rope.cos, bytes));
    CUDA_CHECK(cudaMalloc(&g_rope.sin, bytes));
    CUDA_CHECK(cudaMemcpy(g_rope.cos, table.cos.data(), bytes, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(g_rope.sin, table.sin.data(), bytes, cudaMemcpyHostToDevice));
    g_rope.serial = table.serial;
  }
  launch_1d(rope_kernel, x.shape[0] * x.shape[1] * half, x.ptr<float>(), x.shape[0], x.shape[1], half, pos0,
            static_cast<const float*>(g_rope.cos), static_cast<const float*>(g_rope.sin));
}

void attention(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, float scale, int64_t causal_offset) {
  check_attention(q, k, v, out);
  attention_raw(q.ptr<const float>(), k.ptr<const float>(), v.ptr<const float>(), out.ptr<float>(), q.shape[0],
                k.shape[0], q.shape[1], k.shape[1], q.shape[2], scale, causal_offset);
}

void patch_embed(const Tensor& pixels, const Tensor& w, const Tensor& b, Tensor& out) {
  check_patch_embed(pixels, w, b, out);
  patch_embed_gemm(pixels.ptr<const float>(), pixels.shape[0], pixels.shape[1], w.shape[2], w.data, w.dtype, b.data,
                   b.dtype, out.ptr<float>(), w.shape[0]);
}

void embed(const Tensor& table, const int* ids, int64_t n, Tensor& out) {
  check_embed(table, ids, n, out);  // ids are host memory: range-checked here
  if (n == 0) return;
  std::lock_guard<std::mutex> lock(g_ids_mutex);
  if (n > g_ids_capacity) {
    synchronize();
    CUDA_CHECK(cudaFree(g_ids));
    g_ids = nullptr;
    g_ids_capacity = 0;
    CUDA_CHECK(cudaMalloc(&g_ids, static_cast<size_t>(n) * sizeof(int)));
    g_ids_capacity = n;
  }
  // Pageable source: the copy is staged before cudaMemcpyAsync returns, so `ids` may go away after it.
  CUDA_CHECK(cudaMemcpyAsync(g_ids, ids, static_cast<size_t>(n) * sizeof(int), cudaMemcpyHostToDevice, stream()));
  const int64_t D = table.shape[1];
  launch_1d(embed_kernel, n * D, static_cast<const void*>(table.data), table.dtype, static_cast<const int*>(g_ids), n,
            D, out.ptr<float>());
}

void copy(const Tensor& src, Tensor& dst) {
  check_copy(src, dst);
  CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, src.nbytes(), cudaMemcpyDeviceToDevice, stream()));
}

void copy_columns(const Tensor& src, int64_t col0, Tensor& dst) {
  check_copy_columns(src, col0, dst);
  if (dst.numel() == 0) return;
  if (dst.shape[0] == 1) {  // decode: one row, a plain copy (a 1-D memcpy node in a decode graph)
    CUDA_CHECK(cudaMemcpyAsync(dst.data, src.ptr<float>() + col0, dst.nbytes(), cudaMemcpyDeviceToDevice, stream()));
    return;
  }
  CUDA_CHECK(cudaMemcpy2DAsync(dst.data, dst.shape[1] * sizeof(float), src.ptr<float>() + col0,
                               src.shape[1] * sizeof(float), dst.shape[1] * sizeof(float), dst.shape[0],
                               cudaMemcpyDeviceToDevice, stream()));
}

int64_t argmax_raw(const float* x, int64_t n) {
  int64_t* d_out = static_cast<int64_t*>(workspace(sizeof(int64_t)));
  argmax_kernel<int64_t><<<1, 1024, 0, stream()>>>(x, n, d_out);
  CUDA_CHECK_LAUNCH();
  int64_t out = -1;
  CUDA_CHECK(cudaMemcpyAsync(&out, d_out, sizeof out, cudaMemcpyDeviceToHost, stream()));
  synchronize();
  return out;
}

int64_t argmax(const Tensor& x) {
  check_f32("argmax", x);
  if (x.numel() == 0) fail_internal("argmax: empty tensor");
  return argmax_raw(x.ptr<const float>(), x.numel());
}

}  // namespace tl::cuda

namespace tl::cuda {

namespace {

__global__ void embed_device_ids_kernel(const void* table, DType dt, const int* __restrict__ ids, int64_t rows,
                                        int64_t n, int64_t D, float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * D) return;
  const int64_t r = i / D, d = i % D;
  const int64_t id = min(max(static_cast<int64_t>(ids[r]), int64_t{0}), rows - 1);
  out[i] = load_f32(table, dt, id * D + d);
}

}  // namespace

void embed_ids_on_device(const Tensor& table, const int* d_ids, int64_t n, Tensor& out) {
  check_f32("embed", out);
  if (table.device != Device::CUDA || out.device != Device::CUDA ||
      (table.dtype != DType::F32 && table.dtype != DType::F16 && table.dtype != DType::BF16) || table.ndim != 2 ||
      out.ndim != 2 || out.shape[0] != n || out.shape[1] != table.shape[1])
    fail_internal("embed: table %s -> out %s", shape_str(table).c_str(), shape_str(out).c_str());
  const int64_t D = table.shape[1];
  launch_1d(embed_device_ids_kernel, n * D, static_cast<const void*>(table.data), table.dtype, d_ids, table.shape[0],
            n, D, out.ptr<float>());
}

void argmax_on_device(const Tensor& x, int* d_out) {
  check_f32("argmax", x);
  if (x.numel() == 0) fail_internal("argmax: empty tensor");
  if (x.numel() > INT32_MAX) fail_internal("argmax: %lld elements do not fit an int index", static_cast<long long>(x.numel()));
  argmax_kernel<int><<<1, 1024, 0, stream()>>>(x.ptr<const float>(), x.numel(), d_out);
  CUDA_CHECK_LAUNCH();
}

void reserve_workspace(size_t bytes) { workspace(bytes); }

StepGraph::~StepGraph() {
  if (exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
}

void StepGraph::run(const std::function<void()>& body) {
  cudaStream_t s = stream();
  cudaGraph_t graph = nullptr;
  CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  try {
    body();
  } catch (...) {
    cudaStreamEndCapture(s, &graph);  // leave the stream usable
    if (graph) cudaGraphDestroy(graph);
    (void)cudaGetLastError();  // an invalidated capture's error must not surface at a later launch
    throw;
  }
  CUDA_CHECK(cudaStreamEndCapture(s, &graph));
  struct GraphGuard {  // the captured graph is freed on every exit path
    cudaGraph_t g;
    ~GraphGuard() { cudaGraphDestroy(g); }
  } guard{graph};
  if (exec_) {
    cudaGraphExecUpdateResultInfo info;
    if (cudaGraphExecUpdate(static_cast<cudaGraphExec_t>(exec_), graph, &info) != cudaSuccess) {
      (void)cudaGetLastError();  // a refused update is not an error for us: instantiate afresh
      cudaGraphExec_t old = static_cast<cudaGraphExec_t>(exec_);
      exec_ = nullptr;
      CUDA_CHECK(cudaGraphExecDestroy(old));
    }
  }
  if (!exec_) {
    cudaGraphExec_t exec = nullptr;
    CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    exec_ = exec;
    ++instantiations_;
  }
  CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), s));
}

}  // namespace tl::cuda
