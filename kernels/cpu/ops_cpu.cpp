// kernels/cpu/ops_cpu.cpp — the CPU implementation of kernels/ops.h: threaded over rows, columns or
// heads with parallel_for, hot loops from the runtime-selected ISA table (isa.h). The reference kernels
// (kernels/ref) replace every op after use_reference_kernels(true).
//
// Numerics: F32 throughout; GEMM and dot products accumulate in F32 (with FMA where the CPU has it),
// row statistics (norm means and variances, softmax sums) in F64.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "kernels/check.h"
#include "kernels/rows.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/threads.h"
#include "kernels/ref/ref.h"
#include "tensor/error.h"
#if TINYLLAVA_HAS_CUDA
#include "kernels/cuda/cuda_ops.h"
#endif

namespace tl::ops {

// Tensors on the GPU go to kernels/cuda (the output's device decides; the checks there require every
// operand on it). A build without CUDA cannot have such tensors, but says so rather than crash.
#if TINYLLAVA_HAS_CUDA
#define TL_CUDA_DISPATCH(t, call) \
  if ((t).device == Device::CUDA) return cuda::call
#else
#define TL_CUDA_DISPATCH(t, call) \
  if ((t).device == Device::CUDA) fail_internal("a CUDA tensor in a build without CUDA")
#endif

namespace {

std::atomic<bool> g_reference{false};
std::atomic<Precision> g_precision{Precision::F32};

// A small weight vector (norm scale, bias) as F32.
std::vector<float> vec_f32(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  cpu::isa().to_f32(t.data, t.dtype, v.data(), t.numel());
  return v;
}

// Elementwise f over x, split across threads in cache-friendly chunks.
template <typename F>
void map_inplace(Tensor& x, F f) {
  float* p = x.ptr<float>();
  cpu::parallel_for(x.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = f(p[i]);
  }, 4096);
}

}  // namespace

static void matmul_cpu(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);

void use_reference_kernels(bool on) { g_reference = on; }
bool bf16_supported() { return cpu::gemm_bf16_available(); }
void set_precision(Precision p) { g_precision = p == Precision::BF16 && bf16_supported() ? p : Precision::F32; }
Precision precision() { return g_precision; }
const char* precision_name(Precision p) { return p == Precision::BF16 ? "bf16" : "f32"; }
bool using_reference_kernels() { return g_reference; }
void synchronize(Device device) {
#if TINYLLAVA_HAS_CUDA
  if (device == Device::CUDA) cuda::synchronize();
#else
  (void)device;
#endif
}

void set_num_threads(int n) { cpu::set_num_threads(n); }
int num_threads() { return cpu::num_threads(); }

void matmul(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, Epilogue epi) {
  TL_CUDA_DISPATCH(y, matmul(x, w, bias, y, epi));
  matmul_cpu(x, w, bias, y);
  if (epi == Epilogue::GeluTanh) gelu_tanh(y);
  if (epi == Epilogue::GeluErf) gelu_erf(y);
}

static void matmul_cpu(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  if (g_reference) return ref::matmul(x, w, bias, y);
  check_matmul(x, w, bias, y);
  std::vector<float> b;
  if (bias) b = vec_f32(*bias);
  cpu::gemm(x.ptr<float>(), x.shape[0], x.shape[1], w.data, w.dtype, bias ? b.data() : nullptr, y.ptr<float>(),
            w.shape[0], g_precision == Precision::BF16);
}

void layernorm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y) {
  TL_CUDA_DISPATCH(y, layernorm(x, w, b, eps, y));
  if (g_reference) return ref::layernorm(x, w, b, eps, y);
  check_rowwise("layernorm", x, y, &w, &b);
  const int64_t D = x.shape[x.ndim - 1];
  const std::vector<float> wv = vec_f32(w), bv = vec_f32(b);
  cpu::parallel_for(x.numel() / D, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) layernorm_row(x.ptr<float>() + r * D, wv.data(), bv.data(), D, eps, y.ptr<float>() + r * D);
  });
}

void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  TL_CUDA_DISPATCH(y, rmsnorm(x, w, eps, y));
  if (g_reference) return ref::rmsnorm(x, w, eps, y);
  check_rowwise("rmsnorm", x, y, &w, nullptr);
  const int64_t D = x.shape[x.ndim - 1];
  const std::vector<float> wv = vec_f32(w);
  cpu::parallel_for(x.numel() / D, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) rmsnorm_row(x.ptr<float>() + r * D, wv.data(), D, eps, y.ptr<float>() + r * D);
  }, std::max<int64_t>(8, 16384 / D));  // >= 16 K values a chunk: decode's per-head q/k norms stay on one thread
}

void gelu_tanh(Tensor& x) {
  TL_CUDA_DISPATCH(x, gelu_tanh(x));
  if (g_reference) return ref::gelu_tanh(x);
  check_f32("gelu_tanh", x);
  float* p = x.ptr<float>();
  cpu::parallel_for(x.numel(), [&](int64_t b, int64_t e) { cpu::isa().gelu_tanh(p + b, e - b); }, 4096);
}

void gelu_erf(Tensor& x) {
  TL_CUDA_DISPATCH(x, gelu_erf(x));
  if (g_reference) return ref::gelu_erf(x);
  check_f32("gelu_erf", x);
  float* p = x.ptr<float>();
  cpu::parallel_for(x.numel(), [&](int64_t b, int64_t e) { cpu::isa().gelu_erf(p + b, e - b); }, 4096);
}

void silu(Tensor& x) {
  TL_CUDA_DISPATCH(x, silu(x));
  if (g_reference) return ref::silu(x);
  check_f32("silu", x);
  map_inplace(x, [](float v) { return v / (1.0f + std::exp(-v)); });
}

void silu_mul(const Tensor& gate_up, Tensor& out) {
  TL_CUDA_DISPATCH(out, silu_mul(gate_up, out));
  if (g_reference) return ref::silu_mul(gate_up, out);
  check_silu_mul(gate_up, out);
  const int64_t F = out.shape[1];
  cpu::parallel_for(out.shape[0], [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* g = gate_up.ptr<float>() + t * 2 * F;
      cpu::isa().silu_mul(g, g + F, out.ptr<float>() + t * F, F);
    }
  });
}

void add(Tensor& y, const Tensor& x) {
  TL_CUDA_DISPATCH(y, add(y, x));
  if (g_reference) return ref::add(y, x);
  check_same("add", y, x);
  float* py = y.ptr<float>();
  const float* px = x.ptr<float>();
  cpu::parallel_for(y.numel(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) py[i] += px[i];
  }, 16384);
}

void rope(Tensor& x, int64_t pos0, const RopeTable& table) {
  TL_CUDA_DISPATCH(x, rope(x, pos0, table));
  if (g_reference) return ref::rope(x, pos0, table);
  check_rope(x, pos0, table);
  const int64_t H = x.shape[1], Dh = x.shape[2], half = Dh / 2;
  cpu::parallel_for(x.shape[0], [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* c = table.cos.data() + (pos0 + t) * half;
      const float* s = table.sin.data() + (pos0 + t) * half;
      for (int64_t h = 0; h < H; ++h) {
        float* v = x.ptr<float>() + (t * H + h) * Dh;
        for (int64_t j = 0; j < half; ++j) {
          float a = v[j], b = v[j + half];
          float lo = a * c[j], lo_r = -b * s[j], hi = b * c[j], hi_r = a * s[j];  // no fused multiply-add
          v[j] = lo + lo_r;
          v[j + half] = hi + hi_r;
        }
      }
    }
  });
}

void attention(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, float scale, int64_t causal_offset) {
  TL_CUDA_DISPATCH(out, attention(q, k, v, out, scale, causal_offset));
  if (g_reference) return ref::attention(q, k, v, out, scale, causal_offset);
  check_attention(q, k, v, out);
  // --precision bf16: both products on bf16 operands (prefill and SigLIP; decode stays F32).
  cpu::attention(q, k, v, out, scale, causal_offset, g_precision == Precision::BF16);
}

namespace {

// Patch t of a [C, S, S] image as a row of C·p·p values in the weight's (c, ky, kx) order.
struct PatchGather {
  const float* pixels;
  int64_t S, p, grid;
  static void rows(const void* ctx, int64_t t0, int64_t n, int64_t k0, int64_t kb, float* dst) {
    const PatchGather& g = *static_cast<const PatchGather*>(ctx);
    const int64_t pp = g.p * g.p;
    for (int64_t r = 0; r < n; ++r) {
      const int64_t py = (t0 + r) / g.grid, px = (t0 + r) % g.grid;
      for (int64_t k = k0; k < k0 + kb;) {  // one contiguous run of a patch row at a time
        const int64_t c = k / pp, ky = (k % pp) / g.p, kx = k % g.p;
        const int64_t run = std::min(g.p - kx, k0 + kb - k);
        std::copy_n(g.pixels + (c * g.S + py * g.p + ky) * g.S + px * g.p + kx, run, dst + r * kb + (k - k0));
        k += run;
      }
    }
  }
};

}  // namespace

void patch_embed(const Tensor& pixels, const Tensor& w, const Tensor& b, Tensor& out) {
  TL_CUDA_DISPATCH(out, patch_embed(pixels, w, b, out));
  if (g_reference) return ref::patch_embed(pixels, w, b, out);
  check_patch_embed(pixels, w, b, out);
  // A GEMM over patches, out[P, D] = patches · w[D, C·p·p]ᵀ + b, whose rows are gathered from the image
  // a strip at a time inside the GEMM (no im2col buffer).
  const int64_t C = pixels.shape[0], S = pixels.shape[1], D = w.shape[0], p = w.shape[2];
  const int64_t grid = (S - p) / p + 1, P = grid * grid, K = C * p * p;
  const PatchGather g{pixels.ptr<float>(), S, p, grid};
  const std::vector<float> bias = vec_f32(b);
  cpu::gemm_gather(&PatchGather::rows, &g, P, K, w.data, w.dtype, bias.data(), out.ptr<float>(), D);
}

void embed(const Tensor& table, const int* ids, int64_t n, Tensor& out) {
  TL_CUDA_DISPATCH(out, embed(table, ids, n, out));
  if (g_reference) return ref::embed(table, ids, n, out);
  check_embed(table, ids, n, out);
  const int64_t D = table.shape[1];
  const size_t row_bytes = static_cast<size_t>(D) * dtype_size(table.dtype);
  for (int64_t i = 0; i < n; ++i)
    cpu::isa().to_f32(static_cast<const char*>(table.data) + ids[i] * row_bytes, table.dtype, out.ptr<float>() + i * D, D);
}

void copy(const Tensor& src, Tensor& dst) {
  TL_CUDA_DISPATCH(dst, copy(src, dst));
  check_copy(src, dst);
  std::copy_n(src.ptr<const float>(), src.numel(), dst.ptr<float>());
}

void copy_columns(const Tensor& src, int64_t col0, Tensor& dst) {
  TL_CUDA_DISPATCH(dst, copy_columns(src, col0, dst));
  check_copy_columns(src, col0, dst);
  const int64_t n = dst.shape[1], m = src.shape[1];
  for (int64_t t = 0; t < dst.shape[0]; ++t) std::copy_n(src.ptr<const float>() + t * m + col0, n, dst.ptr<float>() + t * n);
}

int64_t argmax(const Tensor& x) {
  TL_CUDA_DISPATCH(x, argmax(x));
  check_f32("argmax", x);
  if (x.numel() == 0) fail_internal("argmax: empty tensor");
  const float* p = x.ptr<const float>();
  int64_t best = 0;
  for (int64_t i = 1; i < x.numel() && !std::isnan(p[best]); ++i)
    if (p[i] > p[best] || std::isnan(p[i])) best = i;  // the first maximum wins; NaN counts as the largest
  return best;
}

RopeTable RopeTable::make(int head_dim, double base, int64_t positions) {
  static std::atomic<uint64_t> serials{0};
  RopeTable t;
  t.head_dim = head_dim;
  t.positions = positions;
  t.serial = ++serials;
  const int half = head_dim / 2;
  // OpenELMRotaryEmbedding: inv_freq = 1 / base ** (arange(0, Dh, 2).float() / Dh), all in fp32;
  // angle = fp32(position) * inv_freq.
  std::vector<float> inv_freq(half);
  for (int j = 0; j < half; ++j) {
    float e = static_cast<float>(2 * j) / static_cast<float>(head_dim);
    inv_freq[j] = 1.0f / std::pow(static_cast<float>(base), e);
  }
  t.cos.resize(static_cast<size_t>(positions * half));
  t.sin.resize(static_cast<size_t>(positions * half));
  for (int64_t p = 0; p < positions; ++p)
    for (int j = 0; j < half; ++j) {
      float angle = static_cast<float>(p) * inv_freq[j];
      t.cos[p * half + j] = std::cos(angle);
      t.sin[p * half + j] = std::sin(angle);
    }
  return t;
}

}  // namespace tl::ops
