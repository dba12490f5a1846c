// kernels/ops.h — the only kernel API the model code calls.
//
// Every op works on Tensor views (tensor/tensor.h). Activations are contiguous F32 tensors, all on the
// CPU or all on the GPU (Device::CUDA: the op runs in kernels/cuda, see cuda_ops.h); weights may be F32,
// F16 or BF16 and are read in their stored dtype (converted exactly to F32 on the
// fly); math is F32. Shapes use the dimension glossary: T tokens, S keys, D width, K/N GEMM sizes,
// H/Hkv heads, Dh head dim, F FFN width, P patches, C channels, p patch size.
//
// Implementations: kernels/cpu (threaded, SIMD with runtime ISA dispatch) by default;
// kernels/ref (plain loops, fp64 accumulation: the specification) after use_reference_kernels(true);
// kernels/cuda for tensors on the GPU.
// Preconditions are checked on every call (shape or dtype mismatch -> internal error naming the op).
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace tl::ops {

// Use the reference kernels instead of the fast ones (for `dump --ref` and debugging).
void use_reference_kernels(bool on);
bool using_reference_kernels();
// Precision of the large matrix products (T >= 4 rows: vision tower and prefill).
//   F32:  F32 math on exactly converted weights (what `dump` and the parity tests use).
//   BF16: activations and weights rounded to bfloat16, products summed in F32 (AVX512_BF16); attention's
//         q·scale, K, V and softmax weights likewise, its softmax in F32; a stated, tested bound
//         (README). Decode (T < 4), patch embedding, norms and activations stay F32.
// set_precision(BF16) on a CPU without a bf16 kernel keeps F32; precision() says what is in effect.
enum class Precision { F32, BF16 };
void set_precision(Precision p);
Precision precision();
bool bf16_supported();
const char* precision_name(Precision p);

// Waits until the work queued on `device` is done (GPU kernels run asynchronously; no-op for the CPU).
void synchronize(Device device);

// Threads for the CPU kernels (default: all hardware threads).
void set_num_threads(int n);
int num_threads();

// y[T,N] = epi(x[T,K] · w[N,K]ᵀ (+ bias[N])), epi one of the element-wise activations below (fused
// into the GEMM's epilogue on CUDA; applied after the product on the CPU, with identical numerics).
enum class Epilogue { None, GeluTanh, GeluErf };
void matmul(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, Epilogue epi = Epilogue::None);

// Row-wise over the last dimension D; y may be x.
//   layernorm: (x - mean) / sqrt(var + eps) · w + b, biased variance (PyTorch LayerNorm)
//   rmsnorm:   (x · rsqrt(mean(x²) + eps)) · w, rounded to F32 before the weight multiply (OpenELM)
void layernorm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y);
void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& y);

// Element-wise, in place.
void gelu_tanh(Tensor& x);  // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))   (SigLIP MLP)
void gelu_erf(Tensor& x);   // 0.5·x·(1 + erf(x/√2))                          (connector)
void silu(Tensor& x);       // x·σ(x)
// out[T,F] = silu(gate_up[:, :F]) · gate_up[:, F:]   (OpenELM GLU: gate is the first half)
void silu_mul(const Tensor& gate_up, Tensor& out);
// y += x (same shape).
void add(Tensor& y, const Tensor& x);

// Rotary position embedding, NeoX "rotate half" over all Dh dims of every head, in place:
// token t of x[T, H, Dh] is at position pos0 + t. Angles are fp32(position · inv_freq[j]) with
// inv_freq[j] = 1 / base^(2j/Dh) computed in fp32, as OpenELM does.
struct RopeTable {
  int head_dim = 0;
  int64_t positions = 0;
  uint64_t serial = 0;  // unique per make(): a device copy (kernels/cuda) knows when it is stale
  std::vector<float> cos, sin;  // [positions, head_dim / 2]
  static RopeTable make(int head_dim, double base, int64_t positions);
};
void rope(Tensor& x, int64_t pos0, const RopeTable& table);

// Scaled dot-product attention with grouped KV heads: q[T,H,Dh], k[S,Hkv,Dh], v[S,Hkv,Dh] ->
// out[T,H,Dh]; query head h reads KV head h / (H / Hkv). With causal_offset >= 0, query t sees keys
// j <= t + causal_offset (prefill after `causal_offset` cached tokens); kNonCausal: all keys.
constexpr int64_t kNonCausal = -1;
void attention(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, float scale, int64_t causal_offset);

// Patch embedding: the C→D convolution with kernel p and stride p over pixels[C,S,S] (rows/columns past
// the last whole patch are ignored), as out[P, D] with P = ((S-p)/p + 1)², patches in row-major order.
void patch_embed(const Tensor& pixels, const Tensor& w, const Tensor& b, Tensor& out);

// out[n, D] = table[ids[i], :] converted to F32. ids are host memory (each in [0, rows)).
void embed(const Tensor& table, const int* ids, int64_t n, Tensor& out);

// dst = src: contiguous F32 tensors with the same number of elements, on one device.
void copy(const Tensor& src, Tensor& dst);
// dst[t, :] = src[t, col0 : col0 + n] for src [T, M] and dst [T, n] (splits a fused projection's output).
void copy_columns(const Tensor& src, int64_t col0, Tensor& dst);
// Index of the largest element of an F32 tensor (the first on ties, like torch.argmax), either device.
int64_t argmax(const Tensor& x);

}  // namespace tl::ops
