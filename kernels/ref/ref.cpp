// kernels/ref/ref.cpp — reference kernels: the plainest correct loops (contract in kernels/ops.h).
// Sums accumulate in double; element-wise formulas are written exactly as the PyTorch modules
// evaluate them (float operations in the same order), which is what the fp32 reference produces.
#include "kernels/ref/ref.h"

#include <cmath>
#include <vector>

#include "kernels/check.h"
#include "kernels/rows.h"
#include "tensor/buffer.h"
#include "tensor/quant.h"

namespace tl::ref {

namespace {

// Row r of a weight/bias tensor of any dtype, as floats.
std::vector<float> row_f32(const Tensor& t, int64_t r, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  if (is_quantized(t.dtype)) {  // a Q8/Q4 matrix row: codes times their group's scale (tensor/quant.h)
    weight_slice_to_f32(t, r, 0, n, out.data());
    return out;
  }
  const char* base = static_cast<const char*>(t.data) + r * n * static_cast<int64_t>(dtype_size(t.dtype));
  convert_to_f32(base, t.dtype, out.data(), static_cast<size_t>(n));
  return out;
}

}  // namespace

void matmul(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  check_matmul(x, w, bias, y);
  const int64_t T = x.shape[0], K = x.shape[1], N = w.shape[0];
  std::vector<float> b = bias ? row_f32(*bias, 0, N) : std::vector<float>(N, 0.0f);
  const float* px = x.ptr<float>();
  float* py = y.ptr<float>();
  for (int64_t n = 0; n < N; ++n) {
    std::vector<float> wn = row_f32(w, n, K);
    for (int64_t t = 0; t < T; ++t) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += static_cast<double>(px[t * K + k]) * wn[k];
      py[t * N + n] = static_cast<float>(acc + b[n]);
    }
  }
}

void layernorm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y) {
  check_rowwise("layernorm", x, y, &w, &b);
  const int64_t D = x.shape[x.ndim - 1], rows = x.numel() / D;
  const std::vector<float> wv = row_f32(w, 0, D), bv = row_f32(b, 0, D);
  for (int64_t r = 0; r < rows; ++r) layernorm_row(x.ptr<float>() + r * D, wv.data(), bv.data(), D, eps, y.ptr<float>() + r * D);
}

void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  check_rowwise("rmsnorm", x, y, &w, nullptr);
  const int64_t D = x.shape[x.ndim - 1], rows = x.numel() / D;
  const std::vector<float> wv = row_f32(w, 0, D);
  for (int64_t r = 0; r < rows; ++r) rmsnorm_row(x.ptr<float>() + r * D, wv.data(), D, eps, y.ptr<float>() + r * D);
}

void gelu_tanh(Tensor& x) {
  check_f32("gelu_tanh", x);
  const float k = 0.7978845608028654f;  // √(2/π)
  float* p = x.ptr<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    float v = p[i];
    p[i] = 0.5f * v * (1.0f + std::tanh(k * (v + 0.044715f * v * v * v)));
  }
}

void gelu_erf(Tensor& x) {
  check_f32("gelu_erf", x);
  float* p = x.ptr<float>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = p[i] * 0.5f * (1.0f + std::erf(p[i] * 0.70710678118654752f));
}

void silu(Tensor& x) {
  check_f32("silu", x);
  float* p = x.ptr<float>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = p[i] / (1.0f + std::exp(-p[i]));
}

void silu_mul(const Tensor& gate_up, Tensor& out) {
  check_silu_mul(gate_up, out);
  const int64_t T = out.shape[0], F = out.shape[1];
  for (int64_t t = 0; t < T; ++t) {
    const float* g = gate_up.ptr<float>() + t * 2 * F;
    float* o = out.ptr<float>() + t * F;
    for (int64_t i = 0; i < F; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * g[F + i];
  }
}

void add(Tensor& y, const Tensor& x) {
  check_same("add", y, x);
  float* py = y.ptr<float>();
  const float* px = x.ptr<float>();
  for (int64_t i = 0; i < y.numel(); ++i) py[i] += px[i];
}

void rope(Tensor& x, int64_t pos0, const ops::RopeTable& table) {
  check_rope(x, pos0, table);
  const int64_t T = x.shape[0], H = x.shape[1], Dh = x.shape[2], half = Dh / 2;
  for (int64_t t = 0; t < T; ++t) {
    const float* c = table.cos.data() + (pos0 + t) * half;
    const float* s = table.sin.data() + (pos0 + t) * half;
    for (int64_t h = 0; h < H; ++h) {
      float* v = x.ptr<float>() + (t * H + h) * Dh;
      for (int64_t j = 0; j < half; ++j) {
        float a = v[j], b = v[j + half];
        // x·cos + rotate_half(x)·sin, two products and one sum, no fused multiply-add
        float lo = a * c[j];
        float lo_r = -b * s[j];
        float hi = b * c[j];
        float hi_r = a * s[j];
        v[j] = lo + lo_r;
        v[j + half] = hi + hi_r;
      }
    }
  }
}

void attention(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, float scale, int64_t causal_offset) {
  check_attention(q, k, v, out);
  if (k.dtype == DType::F16) {  // an F16 cache: its exact values
    OwnedTensor kf = OwnedTensor::empty(DType::F32, k.shape_vec()), vf = OwnedTensor::empty(DType::F32, v.shape_vec());
    convert_to_f32(k.data, DType::F16, kf.tensor.ptr<float>(), static_cast<size_t>(k.numel()));
    convert_to_f32(v.data, DType::F16, vf.tensor.ptr<float>(), static_cast<size_t>(v.numel()));
    return attention(q, kf.tensor, vf.tensor, out, scale, causal_offset);
  }
  const int64_t T = q.shape[0], H = q.shape[1], Dh = q.shape[2], S = k.shape[0], Hkv = k.shape[1];
  const int64_t group = H / Hkv;
  std::vector<double> p(static_cast<size_t>(S));
  for (int64_t h = 0; h < H; ++h) {
    const int64_t g = h / group;
    for (int64_t t = 0; t < T; ++t) {
      const float* qt = q.ptr<float>() + (t * H + h) * Dh;
      const int64_t n = causal_offset < 0 ? S : std::min(S, t + causal_offset + 1);
      double mx = -INFINITY;
      for (int64_t j = 0; j < n; ++j) {
        const float* kj = k.ptr<float>() + (j * Hkv + g) * Dh;
        double dot = 0;
        for (int64_t d = 0; d < Dh; ++d) dot += static_cast<double>(qt[d]) * kj[d];
        p[j] = dot * scale;
        mx = std::max(mx, p[j]);
      }
      double sum = 0;
      for (int64_t j = 0; j < n; ++j) sum += (p[j] = std::exp(p[j] - mx));
      float* ot = out.ptr<float>() + (t * H + h) * Dh;
      for (int64_t d = 0; d < Dh; ++d) {
        double acc = 0;
        for (int64_t j = 0; j < n; ++j) acc += p[j] * v.ptr<float>()[(j * Hkv + g) * Dh + d];
        ot[d] = static_cast<float>(acc / sum);
      }
    }
  }
}

void patch_embed(const Tensor& pixels, const Tensor& w, const Tensor& b, Tensor& out) {
  check_patch_embed(pixels, w, b, out);
  const int64_t C = pixels.shape[0], S = pixels.shape[1], D = w.shape[0], p = w.shape[2];
  const int64_t grid = (S - p) / p + 1;
  std::vector<float> bv = row_f32(b, 0, D);
  for (int64_t o = 0; o < D; ++o) {
    std::vector<float> wo = row_f32(w, o, C * p * p);
    for (int64_t py = 0; py < grid; ++py)
      for (int64_t px = 0; px < grid; ++px) {
        double acc = 0;
        for (int64_t c = 0; c < C; ++c)
          for (int64_t ky = 0; ky < p; ++ky)
            for (int64_t kx = 0; kx < p; ++kx)
              acc += static_cast<double>(wo[(c * p + ky) * p + kx]) *
                     pixels.ptr<float>()[(c * S + py * p + ky) * S + px * p + kx];
        out.ptr<float>()[(py * grid + px) * D + o] = static_cast<float>(acc + bv[o]);
      }
  }
}

void embed(const Tensor& table, const int* ids, int64_t n, Tensor& out) {
  check_embed(table, ids, n, out);
  const int64_t D = table.shape[1];
  for (int64_t i = 0; i < n; ++i) {
    std::vector<float> r = row_f32(table, ids[i], D);
    std::copy(r.begin(), r.end(), out.ptr<float>() + i * D);
  }
}

}  // namespace tl::ref
