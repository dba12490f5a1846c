// kernels/check.cpp — kernel preconditions (see check.h).
#include "kernels/check.h"

#include "tensor/error.h"

namespace tl {

namespace {

[[noreturn]] void bad(const char* op, const std::string& what) { fail_internal("%s: %s", op, what.c_str()); }

bool is_weight_dtype(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

void check_weight(const char* op, const char* name, const Tensor& w) {
  if (w.device != Device::CPU || !is_weight_dtype(w.dtype) || !w.is_contiguous() || !w.data)
    bad(op, std::string(name) + " must be a contiguous CPU F32/F16/BF16 tensor, got " + dtype_name(w.dtype) + " " +
                shape_str(w));
}

}  // namespace

void check_f32(const char* op, const Tensor& x) {
  if (x.dtype != DType::F32 || x.device != Device::CPU || !x.is_contiguous() || (!x.data && x.numel()))
    bad(op, std::string("expected a contiguous CPU F32 tensor, got ") + dtype_name(x.dtype) + " " + shape_str(x));
}

void check_same(const char* op, const Tensor& a, const Tensor& b) {
  check_f32(op, a);
  check_f32(op, b);
  if (a.shape_vec() != b.shape_vec()) bad(op, "shape mismatch " + shape_str(a) + " vs " + shape_str(b));
}

void check_matmul(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) {
  check_f32("matmul", x);
  check_f32("matmul", y);
  check_weight("matmul", "w", w);
  if (x.ndim != 2 || w.ndim != 2 || y.ndim != 2 || x.shape[1] != w.shape[1] || y.shape[0] != x.shape[0] ||
      y.shape[1] != w.shape[0])
    bad("matmul", "x " + shape_str(x) + " · w " + shape_str(w) + "ᵀ -> y " + shape_str(y));
  if (bias) {
    check_weight("matmul", "bias", *bias);
    if (bias->numel() != w.shape[0]) bad("matmul", "bias " + shape_str(*bias) + " for w " + shape_str(w));
  }
}

void check_rowwise(const char* op, const Tensor& x, const Tensor& y, const Tensor* w, const Tensor* b) {
  check_same(op, x, y);
  if (x.ndim < 1) bad(op, "needs at least one dimension");
  const int64_t D = x.shape[x.ndim - 1];
  for (const Tensor* p : {w, b}) {
    if (!p) continue;
    check_weight(op, "weight", *p);
    if (p->numel() != D) bad(op, "weight " + shape_str(*p) + " for rows of " + std::to_string(D));
  }
}

void check_silu_mul(const Tensor& gate_up, const Tensor& out) {
  check_f32("silu_mul", gate_up);
  check_f32("silu_mul", out);
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
  for (const Tensor* t : {&q, &k, &v, &out}) check_f32("attention", *t);
  if (q.ndim != 3 || k.ndim != 3 || v.shape_vec() != k.shape_vec() || out.shape_vec() != q.shape_vec() ||
      q.shape[2] != k.shape[2] || k.shape[1] == 0 || q.shape[1] % k.shape[1] != 0)
    bad("attention", "q " + shape_str(q) + ", k " + shape_str(k) + ", v " + shape_str(v) + ", out " + shape_str(out));
}

void check_patch_embed(const Tensor& pixels, const Tensor& w, const Tensor& b, const Tensor& out) {
  check_f32("patch_embed", pixels);
  check_f32("patch_embed", out);
  check_weight("patch_embed", "w", w);
  check_weight("patch_embed", "b", b);
  bool ok = pixels.ndim == 3 && w.ndim == 4 && pixels.shape[1] == pixels.shape[2] && w.shape[1] == pixels.shape[0] &&
            w.shape[2] == w.shape[3] && w.shape[2] > 0 && w.shape[2] <= pixels.shape[1] && b.numel() == w.shape[0];
  if (ok) {
    int64_t grid = (pixels.shape[1] - w.shape[2]) / w.shape[2] + 1;
    ok = out.ndim == 2 && out.shape[0] == grid * grid && out.shape[1] == w.shape[0];
  }
  if (!ok) bad("patch_embed", "pixels " + shape_str(pixels) + ", w " + shape_str(w) + " -> out " + shape_str(out));
}

void check_embed(const Tensor& table, const int* ids, int64_t n, const Tensor& out) {
  check_weight("embed", "table", table);
  check_f32("embed", out);
  if (table.ndim != 2 || out.ndim != 2 || out.shape[0] != n || out.shape[1] != table.shape[1])
    bad("embed", "table " + shape_str(table) + " -> out " + shape_str(out));
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= table.shape[0]) bad("embed", "id " + std::to_string(ids[i]) + " out of range");
}

}  // namespace tl
