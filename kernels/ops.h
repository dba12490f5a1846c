// kernels/ops.h — the only kernel API the model code calls, and the one place that chooses an
// implementation (kernels/ops.cpp).
//
// Every op works on Tensor views (tensor/tensor.h). Activations are contiguous F32 tensors, all on the
// CPU or all on the GPU; weights may be F32, F16, BF16 or (CPU only) the Q8/Q4 groups of tensor/quant.h,
// and are read in their stored dtype, converted exactly to F32 on the fly. Math is F32, except where a
// path states its rounding: Precision::BF16 below, and on the GPU the tensor-core products, which round
// activations to the F16/BF16 weights' dtype (kernels/cuda/cuda_ops.h). Shapes use the dimension
// glossary: T tokens, S keys, D width, K/N GEMM sizes, H/Hkv heads, Dh head dim, F FFN width, P patches,
// C channels, p patch size.
//
// Implementations, peers that never include each other (kernels/types.h holds what they share):
//   kernels/cuda  when the output tensor is on the GPU (Device::CUDA);
//   kernels/ref   plain loops, fp64 accumulation: the specification (Context with reference = true);
//   kernels/cpu   threaded, SIMD with runtime ISA dispatch: the default.
// How they run is a Context, made once by its owner (the engine) from Options and passed to every op:
// no op reads a process-wide mode. Preconditions are checked here on every call (shape or dtype
// mismatch -> internal error naming the op).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/exec.h"
#include "kernels/types.h"
#include "tensor/tensor.h"

namespace tl::ops {

// Precision of the large matrix products (T > cpu::kGemvMaxRows rows: vision tower and prefill).
//   F32:  F32 math on exactly converted weights (what `dump` and the parity tests use).
//   BF16: activations and weights rounded to bfloat16, products summed in F32 (AVX512_BF16 or AMX);
//         attention's q·scale, K, V and softmax weights likewise, its softmax in F32; a stated, tested
//         bound (README). Decode stays F32: its products up to 8 rows (one per sequence of a
//         batch) and its attention (T < 4); so do patch embedding, norms and activations. The one
//         exception: on Q8/Q4 weights the decode products quantize their activations to int8 where
//         the CPU has AVX512_VNNI (kernels/cpu/gemv_vnni.h states that error).
enum class Precision { F32, BF16 };
const char* precision_name(Precision p);
bool bf16_supported();  // this CPU (and build) has a bf16 GEMM

// What the owner asks for.
struct Options {
  bool reference = false;               // run kernels/ref instead of kernels/cpu (CPU tensors)
  Precision precision = Precision::F32;  // BF16 where unsupported (CPU or ISA cap) runs F32
  int threads = 0;                      // CPU threads per parallel region; <= 0: all hardware threads
  std::string isa = "auto";             // CPU ISA ceiling: auto, generic, avx2, avx512, amx (cpu/isa.h)
  int spin_us = cpu::kDefaultSpinMicros;  // how long idle CPU workers poll before they sleep
};

// Options resolved against this machine (an unknown ISA name is an input error naming `isa`).
class Context {
 public:
  explicit Context(const Options& options = {});
  const Options& options() const { return options_; }
  bool reference() const { return options_.reference; }
  Precision precision() const { return cpu_.bf16 ? Precision::BF16 : Precision::F32; }  // in effect
  int threads() const { return cpu_.team.size(); }
  const char* isa_name() const { return cpu_.isa->name; }  // the F32 table in use
  const cpu::Exec& cpu() const { return cpu_; }

 private:
  Options options_;
  cpu::Exec cpu_;
};

// Waits until the work queued on `device` is done (GPU kernels run asynchronously; no-op for the CPU).
void synchronize(Device device);

// y[T,N] = epi(x[T,K] · w[N,K]ᵀ (+ bias[N])), epi one of the element-wise activations below (fused
// into the GEMM's epilogue on CUDA; applied after the product on the CPU, with identical numerics).
void matmul(const Context& c, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
            Epilogue epi = Epilogue::None);

// Row-wise over the last dimension D; y may be x.
//   layernorm: (x - mean) / sqrt(var + eps) · w + b, biased variance (PyTorch LayerNorm)
//   rmsnorm:   (x · rsqrt(mean(x²) + eps)) · w, rounded to F32 before the weight multiply (OpenELM)
void layernorm(const Context& c, const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y);
void rmsnorm(const Context& c, const Tensor& x, const Tensor& w, float eps, Tensor& y);

// Element-wise, in place.
void gelu_tanh(const Context& c, Tensor& x);  // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))   (SigLIP MLP)
void gelu_erf(const Context& c, Tensor& x);   // 0.5·x·(1 + erf(x/√2))                          (connector)
void silu(const Context& c, Tensor& x);       // x·σ(x)
// out[T,F] = silu(gate_up[:, :F]) · gate_up[:, F:]   (OpenELM GLU: gate is the first half)
void silu_mul(const Context& c, const Tensor& gate_up, Tensor& out);
// y += x (same shape).
void add(const Context& c, Tensor& y, const Tensor& x);

// Rotary position embedding, NeoX "rotate half" over all Dh dims of every head, in place: token t of
// x[T, H, Dh] is at position pos0 + t (table: kernels/types.h).
void rope(const Context& c, Tensor& x, int64_t pos0, const RopeTable& table);

// Scaled dot-product attention with grouped KV heads: q[T,H,Dh], k[S,Hkv,Dh], v[S,Hkv,Dh] ->
// out[T,H,Dh]; query head h reads KV head h / (H / Hkv). With causal_offset >= 0, query t sees keys
// j <= t + causal_offset (prefill after `causal_offset` cached tokens); kNonCausal: all keys.
void attention(const Context& c, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, float scale,
               int64_t causal_offset);

// ---- KV cache layers (model/openelm.h's KvCache) -------------------------------------------------
// K or V of one layer for `capacity` positions of Hkv heads of Dh values, F32 (or F16 on the CPU: the
// bf16 path's), laid out for the device that reads it: head-major [Hkv, capacity, Dh] on the CPU, so
// that each head's keys are one contiguous stream for decode attention (32-38 % faster than
// interleaved heads, bench/RESULTS.md); position-major [capacity, Hkv, Dh] on CUDA.
std::vector<int64_t> kv_cache_shape(Device device, int64_t capacity, int64_t Hkv, int64_t Dh);
bool kv_position_major(const Tensor& cache);  // the CUDA layout: positions are rows (cache.rows(p0, p1))
// Positions pos0 .. pos0 + T - 1 of `cache` = rows[T, Hkv, Dh] (F32), rounded to F16 for an F16 cache.
void kv_write(const Context& c, const Tensor& rows, Tensor& cache, int64_t pos0);
// Positions [0, n) of `src` into `dst`: same device, dtype, heads and Dh; the capacities may differ.
void kv_copy(const Tensor& src, Tensor& dst, int64_t n);
// attention() over the first S positions of the cache layers k and v.
void attention_cached(const Context& c, const Tensor& q, const Tensor& k, const Tensor& v, int64_t S, Tensor& out,
                      float scale, int64_t causal_offset);

// Patch embedding: the C→D convolution with kernel p and stride p over pixels[C,S,S] (rows/columns past
// the last whole patch are ignored), as out[P, D] with P = ((S-p)/p + 1)², patches in row-major order.
void patch_embed(const Context& c, const Tensor& pixels, const Tensor& w, const Tensor& b, Tensor& out);

// out[n, D] = table[ids[i], :] converted to F32. ids are host memory (each in [0, rows)).
void embed(const Context& c, const Tensor& table, const int* ids, int64_t n, Tensor& out);

// dst = src: contiguous tensors of one dtype with the same number of elements, on one device: F32;
// on the CPU also F16 (the bf16 path's KV cache).
void copy(const Tensor& src, Tensor& dst);
// dst = src rounded to dst's dtype: F32 -> F16 (nearest even) on the CPU, the KV cache's write.
void convert(const Context& c, const Tensor& src, Tensor& dst);
// dst[t, :] = src[t, col0 : col0 + n] for src [T, M] and dst [T, n] (splits a fused projection's output).
void copy_columns(const Tensor& src, int64_t col0, Tensor& dst);
// Index of the largest element of an F32 tensor (the first on ties, like torch.argmax), either device.
int64_t argmax(const Tensor& x);

// ---- Greedy decoding that stays on the GPU (CUDA graphs) -------------------------------------------
// A token id in device memory: embed_device_id reads it, argmax_to_device writes it, so a step
// (embed -> forward -> argmax) needs no host round trip and can be captured as one graph.
void embed_device_id(const Tensor& table, const int* d_id, Tensor& out);
void argmax_to_device(const Tensor& x, int* d_id);

// One decode step, run as a CUDA graph: the first run() captures `body` and instantiates it; later
// runs update the graph in place (same kernels, new arguments) and launch it. Nothing inside `body`
// may allocate: call prepare(...) once before the first capture. A CPU build or a CPU device runs
// `body` directly.
class StepGraph {
 public:
  explicit StepGraph(Device device);
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;
  // Sizes the workspaces a step over up to `positions` cached keys of `max_heads` query heads of
  // `head_dim` needs, and loads every kernel a later step may launch first.
  void prepare(int64_t positions, int64_t max_heads, int64_t head_dim);
  void run(const std::function<void()>& body);
  int instantiations() const;  // 1 when every later step updated in place

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tl::ops
