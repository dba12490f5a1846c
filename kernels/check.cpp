// kernels/check.cpp — kernel preconditions (see check.h).
#include "kernels/check.h"

#include "tensor/error.h"
#include "tensor/quant.h"

namespace tl {

namespace {

[[noreturn]] void bad(const char* op, const std::string& what) { fail_internal("%s: %s", op, what.c_str()); }

bool is_weight_dtype(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// A weight on `dev` (the device of the op's output).
void check_weight(const char* op, const char* name, const Tensor& w, Device dev) {
  if (w.device != dev || !is_weight_dtype(w.dtype) || !w.data)
    bad(op, std::string(name) + " must be a contiguous " + device_name(dev) + " F32/F16/BF16 tensor, got " +
                device_name(w.device) + " " + dtype_name(w.dtype) + " " + shape_str(w));
}

// A weight matrix: a float weight, or Q8/Q4 codes with their scales on the CPU (tensor/quant.h).
void check_matrix(const char* op, const char* name, const Tensor& w, Device dev) {
  if (!is_quantized(w.dtype)) return check_weight(op, name, w, dev);
  if (dev != Device::CPU || w.device != Device::CPU || !w.data || !w.scales || w.ndim != 2)
    bad(op, std::string(name) + ": " + dtype_name(w.dtype) + " weights must be a CPU matrix with its scales, got " +
                device_name(w.device) + " " + shape_str(w) + " for a " + device_name(dev) + " op");
}

// An F16 tensor on the CPU (the bf16 path's KV cache), its data present.
bool cpu_f16(const Tensor& t) { return t.dtype == DType::F16 && t.device == Device::CPU && (t.data || !t.numel()); }

// An activation on `dev`.
void check_f32_on(const char* op, const Tensor& x, Device dev) {
  if (x.dtype != DType::F32 || x.device != dev || (!x.data && x.numel()))
    bad(op, std::string("expected a contiguous ") + device_name(dev) + " F32 tensor, got " + device_name(x.device) +
                " " + dtype_name(x.dtype) + " " + shape_str(x));
}

}  // namespace

void check_f32(const char* op, const Tensor& x) { check_f32_on(op, x, x.device); }

void check_same(const char* op, const Tensor& a, const Tensor& b) {
  check_f32_on(op, a, a.device);
  check_f32_on(op, b, a.device);
  if (a.shape_vec() != b.shape_vec()) bad(op, "shape mismatch " + shape_str(a) + " vs " + shape_str(b));
}

void check_matmul(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) {
  check_f32_on("matmul", x, y.device);
  check_f32_on("matmul", y, y.device);
  check_matrix("matmul", "w", w, y.device);
  if (x.ndim != 2 || w.ndim != 2 || y.ndim != 2 || x.shape[1] != w.shape[1] || y.shape[0] != x.shape[0] ||
      y.shape[1] != w.shape[0])
    bad("matmul", "x " + shape_str(x) + " · w " + shape_str(w) + "ᵀ -> y " + shape_str(y));
  if (bias) {
    check_weight("matmul", "bias", *bias, y.device);
    if (bias->numel() != w.shape[0]) bad("matmul", "bias " + shape_str(*bias) + " for w " + shape_str(w));
  }
}

void check_rowwise(const char* op, const Tensor& x, const Tensor& y, const Tensor* w, const Tensor* b) {
  check_same(op, x, y);
  if (x.ndim < 1) bad(op, "needs at least one dimension");
  const int64_t D = x.shape[x.ndim - 1];
  for (const Tensor* p : {w, b}) {
    if (!p) continue;
    check_weight(op, "weight", *p, y.device);
    if (p->numel() != D) bad(op, "weight " + shape_str(*p) + " for rows of " + std::to_string(D));
  }
}

void check_silu_mul(const Tensor& gate_up, const Tensor& out) {
  check_f32_on("silu_mul", gate_up, out.device);
  check_f32_on("silu_mul", out, out.device);
  if (gate_up.ndim != 2 || out.ndim != 2 || gate_up.shape[0] != out.shape[0] || gate_up.shape[1] != 2 * out.shape[1])
    bad("silu_mul", "gate_up " + shape_str(gate_up) + " -> out " + shape_str(out));
}

void check_rope(const Tensor& x, int64_t pos0, const ops::RopeTable& table) {
  check_f32("rope", x);
  if (x.ndim != 3 || x.shape[2] != table.head_dim || x.shape[2] % 2)
    bad("rope", "x " + shape_str(x) + " with a table for head_dim " + std::to_string(table.head_dim));
  if (pos0 < 0 || pos0 + x.shape[0] > table.positions)
    bad("rope", "positions [" + std::to_string(pos0) + ", " + std::to_string(pos0 + x.shape[0]) +
                    ") beyond the table's " + std::to_string(table.positions));
}

void check_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out) {
  // K and V may be an F16 cache on the CPU (the bf16 path's); q and out are F32.
  const bool f16_cache = out.device == Device::CPU && cpu_f16(k) && cpu_f16(v);
  for (const Tensor* t : {&q, &k, &v, &out})
    if (!f16_cache || t == &q || t == &out) check_f32_on("attention", *t, out.device);
  if (q.ndim != 3 || k.ndim != 3 || v.shape_vec() != k.shape_vec() || out.shape_vec() != q.shape_vec() ||
      q.shape[2] != k.shape[2] || k.shape[1] == 0 || q.shape[1] % k.shape[1] != 0)
    bad("attention", "q " + shape_str(q) + ", k " + shape_str(k) + ", v " + shape_str(v) + ", out " + shape_str(out));
}

namespace {

// A cache layer holding at least S positions; returns its KV head count.
int64_t check_kv_cache(const char* op, const Tensor& cache, int64_t S) {
  if (!cpu_f16(cache)) check_f32_on(op, cache, cache.device);
  const bool head_major = ops::kv_head_major(cache.device);
  const int64_t capacity = cache.ndim == 3 ? cache.shape[head_major ? 1 : 0] : -1;
  if (cache.ndim != 3 || S < 0 || S > capacity)
    bad(op, "cache " + shape_str(cache) + " with " + std::to_string(S) + " positions in use");
  return cache.shape[head_major ? 0 : 1];
}

}  // namespace

void check_kv_write(const Tensor& rows, const Tensor& cache, int64_t pos0) {
  check_f32_on("kv_write", rows, cache.device);
  const int64_t T = rows.ndim == 3 ? rows.shape[0] : 0;
  const int64_t Hkv = check_kv_cache("kv_write", cache, pos0 < 0 ? -1 : pos0 + T);
  if (rows.ndim != 3 || rows.shape[1] != Hkv || rows.shape[2] != cache.shape[2])
    bad("kv_write", "rows " + shape_str(rows) + " -> cache " + shape_str(cache));
}

void check_kv_copy(const Tensor& src, const Tensor& dst, int64_t n) {
  const int64_t Hkv = check_kv_cache("kv_copy", src, n);
  if (check_kv_cache("kv_copy", dst, n) != Hkv || src.device != dst.device || src.dtype != dst.dtype ||
      src.shape[2] != dst.shape[2])
    bad("kv_copy", shape_str(src) + " -> " + shape_str(dst));
}

void check_attention_cached(const Tensor& q, const Tensor& k, const Tensor& v, int64_t S, const Tensor& out) {
  const int64_t Hkv = check_kv_cache("attention_cached", k, S);
  check_kv_cache("attention_cached", v, S);
  check_f32_on("attention_cached", q, k.device);
  check_f32_on("attention_cached", out, k.device);
  if (v.shape_vec() != k.shape_vec() || v.dtype != k.dtype || q.ndim != 3 || q.shape[2] != k.shape[2] ||
      q.shape[1] % Hkv != 0 || out.shape_vec() != q.shape_vec())
    bad("attention_cached", "q " + shape_str(q) + ", k " + shape_str(k) + ", v " + shape_str(v) + ", out " + shape_str(out));
}

void check_patch_embed(const Tensor& pixels, const Tensor& w, const Tensor& b, const Tensor& out) {
  check_f32_on("patch_embed", pixels, out.device);
  check_f32_on("patch_embed", out, out.device);
  check_weight("patch_embed", "w", w, out.device);
  check_weight("patch_embed", "b", b, out.device);
  bool ok = pixels.ndim == 3 && w.ndim == 4 && pixels.shape[1] == pixels.shape[2] && w.shape[1] == pixels.shape[0] &&
            w.shape[2] == w.shape[3] && w.shape[2] > 0 && w.shape[2] <= pixels.shape[1] && b.numel() == w.shape[0];
  if (ok) {
    int64_t grid = (pixels.shape[1] - w.shape[2]) / w.shape[2] + 1;
    ok = out.ndim == 2 && out.shape[0] == grid * grid && out.shape[1] == w.shape[0];
  }
  if (!ok) bad("patch_embed", "pixels " + shape_str(pixels) + ", w " + shape_str(w) + " -> out " + shape_str(out));
}

void check_embed(const Tensor& table, const int* ids, int64_t n, const Tensor& out) {
  check_matrix("embed", "table", table, out.device);
  check_f32("embed", out);
  if (table.ndim != 2 || out.ndim != 2 || out.shape[0] != n || out.shape[1] != table.shape[1])
    bad("embed", "table " + shape_str(table) + " -> out " + shape_str(out));
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= table.shape[0]) bad("embed", "id " + std::to_string(ids[i]) + " out of range");
}

void check_copy(const Tensor& src, const Tensor& dst) {
  if (!cpu_f16(src) || !cpu_f16(dst)) {
    check_f32_on("copy", src, dst.device);
    check_f32_on("copy", dst, dst.device);
  }
  if (src.numel() != dst.numel()) bad("copy", shape_str(src) + " -> " + shape_str(dst));
}

void check_convert(const Tensor& src, const Tensor& dst) {
  check_f32_on("convert", src, Device::CPU);
  if (!cpu_f16(dst) || src.numel() != dst.numel())
    bad("convert", std::string("F32 ") + shape_str(src) + " -> expected a CPU F16 tensor of as many elements, got " +
                       device_name(dst.device) + " " + dtype_name(dst.dtype) + " " + shape_str(dst));
}

void check_copy_columns(const Tensor& src, int64_t col0, const Tensor& dst) {
  check_f32_on("copy_columns", src, dst.device);
  check_f32_on("copy_columns", dst, dst.device);
  if (src.ndim != 2 || dst.ndim != 2 || src.shape[0] != dst.shape[0] || col0 < 0 || col0 + dst.shape[1] > src.shape[1])
    bad("copy_columns", shape_str(src) + " from column " + std::to_string(col0) + " -> " + shape_str(dst));
}

}  // namespace tl
