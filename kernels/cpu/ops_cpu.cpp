// kernels/cpu/ops_cpu.cpp — the CPU implementation of kernels/ops.h (contract in ops_cpu.h): threaded
// over rows, columns or heads with parallel_for on the Exec's team, hot loops from its ISA table.
#include "kernels/cpu/ops_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/gemm.h"
#include "tensor/quant.h"

namespace tl::cpu {

namespace {

// A small weight vector (norm scale, bias) as F32: its own data when it is F32, else converted into
// `buf` (a caller's thread_local: a decode step makes ~100 of these calls, none of which allocates).
const float* vec_f32(const Exec& e, const Tensor& t, std::vector<float>& buf) {
  if (t.dtype == DType::F32) return t.ptr<float>();
  buf.resize(static_cast<size_t>(t.numel()));
  e.isa->to_f32(t.data, t.dtype, buf.data(), t.numel());
  return buf.data();
}

// Elementwise f over x, split across threads in cache-friendly chunks.
template <typename F>
void map_inplace(const Exec& e, Tensor& x, F f) {
  float* p = x.ptr<float>();
  parallel_for(e.team, x.numel(), [&](int64_t b, int64_t end) {
    for (int64_t i = b; i < end; ++i) p[i] = f(p[i]);
  }, 4096);
}

}  // namespace

void matmul(const Exec& e, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  thread_local std::vector<float> buf;
  const float* b = bias ? vec_f32(e, *bias, buf) : nullptr;
  const QuantMatrix q = {static_cast<const uint8_t*>(w.data), w.scales};  // read for Q8/Q4 only
  gemm(e, x.ptr<float>(), x.shape[0], x.shape[1], is_quantized(w.dtype) ? &q : w.data, w.dtype, b, y.ptr<float>(),
       w.shape[0]);
}

void layernorm(const Exec& e, const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y) {
  const int64_t D = x.shape[x.ndim - 1];
  thread_local std::vector<float> wbuf, bbuf;
  const float* wv = vec_f32(e, w, wbuf);
  const float* bv = vec_f32(e, b, bbuf);
  parallel_for(e.team, x.numel() / D, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) e.isa->layernorm_row(x.ptr<float>() + r * D, wv, bv, D, eps, y.ptr<float>() + r * D);
  });
}

void rmsnorm(const Exec& e, const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  const int64_t D = x.shape[x.ndim - 1];
  thread_local std::vector<float> buf;
  const float* wv = vec_f32(e, w, buf);
  parallel_for(e.team, x.numel() / D, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) e.isa->rmsnorm_row(x.ptr<float>() + r * D, wv, D, eps, y.ptr<float>() + r * D);
  }, std::max<int64_t>(8, 16384 / D));  // >= 16 K values a chunk: decode's per-head q/k norms stay on one thread
}

void gelu_tanh(const Exec& e, Tensor& x) {
  float* p = x.ptr<float>();
  parallel_for(e.team, x.numel(), [&](int64_t b, int64_t end) { e.isa->gelu_tanh(p + b, end - b); }, 4096);
}

void gelu_erf(const Exec& e, Tensor& x) {
  float* p = x.ptr<float>();
  parallel_for(e.team, x.numel(), [&](int64_t b, int64_t end) { e.isa->gelu_erf(p + b, end - b); }, 4096);
}

void silu(const Exec& e, Tensor& x) {
  map_inplace(e, x, [](float v) { return v / (1.0f + std::exp(-v)); });
}

void silu_mul(const Exec& e, const Tensor& gate_up, Tensor& out) {
  const int64_t F = out.shape[1];
  parallel_for(e.team, out.shape[0], [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* g = gate_up.ptr<float>() + t * 2 * F;
      e.isa->silu_mul(g, g + F, out.ptr<float>() + t * F, F);
    }
  });
}

void add(const Exec& e, Tensor& y, const Tensor& x) {
  float* py = y.ptr<float>();
  const float* px = x.ptr<float>();
  parallel_for(e.team, y.numel(), [&](int64_t b, int64_t end) {
    for (int64_t i = b; i < end; ++i) py[i] += px[i];
  }, 16384);
}

void rope(const Exec& e, Tensor& x, int64_t pos0, const ops::RopeTable& table) {
  const int64_t H = x.shape[1], Dh = x.shape[2], half = Dh / 2;
  parallel_for(e.team, x.shape[0], [&](int64_t t0, int64_t t1) {
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

void patch_embed(const Exec& e, const Tensor& pixels, const Tensor& w, const Tensor& b, Tensor& out) {
  // A GEMM over patches, out[P, D] = patches · w[D, C·p·p]ᵀ + b, whose rows are gathered from the image
  // a strip at a time inside the GEMM (no im2col buffer).
  const int64_t C = pixels.shape[0], S = pixels.shape[1], D = w.shape[0], p = w.shape[2];
  const int64_t grid = (S - p) / p + 1, P = grid * grid, K = C * p * p;
  const PatchGather g{pixels.ptr<float>(), S, p, grid};
  thread_local std::vector<float> buf;
  gemm_gather(e, &PatchGather::rows, &g, P, K, w.data, w.dtype, vec_f32(e, b, buf), out.ptr<float>(), D);
}

void embed(const Exec& e, const Tensor& table, const int* ids, int64_t n, Tensor& out) {
  const int64_t D = table.shape[1];
  const QuantMatrix q = {static_cast<const uint8_t*>(table.data), table.scales};  // read for Q8/Q4 only
  const void* w = is_quantized(table.dtype) ? &q : table.data;
  for (int64_t i = 0; i < n; ++i) e.isa->weight_slice(w, table.dtype, D, ids[i], 0, D, out.ptr<float>() + i * D);
}

void copy(const Tensor& src, Tensor& dst) { std::memcpy(dst.data, src.data, src.nbytes()); }

void convert(const Exec& e, const Tensor& src, Tensor& dst) {
  e.isa->to_f16(src.ptr<const float>(), dst.ptr<uint16_t>(), src.numel());
}

void copy_columns(const Tensor& src, int64_t col0, Tensor& dst) {
  const int64_t n = dst.shape[1], m = src.shape[1];
  for (int64_t t = 0; t < dst.shape[0]; ++t) std::copy_n(src.ptr<const float>() + t * m + col0, n, dst.ptr<float>() + t * n);
}

void kv_write(const Exec& e, const Tensor& rows, Tensor& cache, int64_t pos0) {
  const int64_t T = rows.shape[0], Hkv = cache.shape[0], C = cache.shape[1], Dh = cache.shape[2];
  parallel_for(e.team, Hkv * T, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t h = i / T, t = i % T;
      const float* src = rows.ptr<const float>() + (t * Hkv + h) * Dh;
      const int64_t at = (h * C + pos0 + t) * Dh;
      if (cache.dtype == DType::F16) e.isa->to_f16(src, cache.ptr<uint16_t>() + at, Dh);
      else std::copy_n(src, Dh, cache.ptr<float>() + at);
    }
  }, 256);
}

void kv_copy(const Tensor& src, Tensor& dst, int64_t n) {
  const int64_t Hkv = src.shape[0], Dh = src.shape[2];
  const size_t esize = dtype_size(src.dtype), bytes = static_cast<size_t>(n * Dh) * esize;
  for (int64_t h = 0; h < Hkv; ++h)
    std::memcpy(static_cast<char*>(dst.data) + static_cast<size_t>(h * dst.shape[1] * Dh) * esize,
                static_cast<const char*>(src.data) + static_cast<size_t>(h * src.shape[1] * Dh) * esize, bytes);
}

void kv_gather(const Tensor& cache, int64_t S, Tensor& out) {
  const int64_t Hkv = cache.shape[0], C = cache.shape[1], Dh = cache.shape[2];
  const size_t esize = dtype_size(cache.dtype);
  for (int64_t h = 0; h < Hkv; ++h)
    for (int64_t t = 0; t < S; ++t)
      convert_to_f32(static_cast<const char*>(cache.data) + static_cast<size_t>((h * C + t) * Dh) * esize, cache.dtype,
                     out.ptr<float>() + (t * Hkv + h) * Dh, static_cast<size_t>(Dh));
}

int64_t argmax(const Tensor& x) {
  const float* p = x.ptr<const float>();
  int64_t best = 0;
  for (int64_t i = 1; i < x.numel() && !std::isnan(p[best]); ++i)
    if (p[i] > p[best] || std::isnan(p[i])) best = i;  // the first maximum wins; NaN counts as the largest
  return best;
}

}  // namespace tl::cpu
