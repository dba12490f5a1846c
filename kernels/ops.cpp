// kernels/ops.cpp — the dispatch: checks each call once, then hands it to one implementation
// (contract in ops.h). A tensor on the GPU goes to kernels/cuda (the output's device decides; the
// checks require every operand on it), else Context::reference() picks kernels/ref over kernels/cpu.
#include "kernels/ops.h"

#include "kernels/check.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/ops_cpu.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/ref/ref.h"
#include "tensor/buffer.h"
#include "tensor/error.h"

namespace tl::ops {

namespace {

bool on_gpu(const Tensor& t) { return t.device == Device::CUDA; }

cpu::IsaCap isa_cap(const std::string& name) {
  cpu::IsaCap cap;
  if (!cpu::parse_isa_cap(name.c_str(), &cap))
    fail_input("isa: unknown instruction set '%s' (expected auto, generic, avx2, avx512 or amx)", name.c_str());
  return cap;
}

int checked_threads(int n) {
  if (n > 1024) fail_input("threads: %d (expected 1 to 1024, or 0 for all hardware threads)", n);
  return n;
}

}  // namespace

const char* precision_name(Precision p) { return p == Precision::BF16 ? "bf16" : "f32"; }
bool bf16_supported() { return cpu::gemm_bf16_available(); }

Context::Context(const Options& options)
    : options_(options),
      cpu_(cpu::make_exec(isa_cap(options.isa), options.precision == Precision::BF16 && !options.reference,
                          cpu::Team{checked_threads(options.threads), options.spin_us})) {}

void synchronize(Device device) {
  if (device == Device::CUDA) cuda::synchronize();
}

void matmul(const Context& c, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, Epilogue epi) {
  check_matmul(x, w, bias, y);
  if (on_gpu(y)) return cuda::matmul(x, w, bias, y, epi);
  if (c.reference())
    ref::matmul(x, w, bias, y);
  else
    cpu::matmul(c.cpu(), x, w, bias, y);
  if (epi == Epilogue::GeluTanh) gelu_tanh(c, y);
  if (epi == Epilogue::GeluErf) gelu_erf(c, y);
}

void layernorm(const Context& c, const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y) {
  check_rowwise("layernorm", x, y, &w, &b);
  if (on_gpu(y)) return cuda::layernorm(x, w, b, eps, y);
  if (c.reference()) return ref::layernorm(x, w, b, eps, y);
  cpu::layernorm(c.cpu(), x, w, b, eps, y);
}

void rmsnorm(const Context& c, const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  check_rowwise("rmsnorm", x, y, &w, nullptr);
  if (on_gpu(y)) return cuda::rmsnorm(x, w, eps, y);
  if (c.reference()) return ref::rmsnorm(x, w, eps, y);
  cpu::rmsnorm(c.cpu(), x, w, eps, y);
}

void gelu_tanh(const Context& c, Tensor& x) {
  check_f32("gelu_tanh", x);
  if (on_gpu(x)) return cuda::gelu_tanh(x);
  if (c.reference()) return ref::gelu_tanh(x);
  cpu::gelu_tanh(c.cpu(), x);
}

void gelu_erf(const Context& c, Tensor& x) {
  check_f32("gelu_erf", x);
  if (on_gpu(x)) return cuda::gelu_erf(x);
  if (c.reference()) return ref::gelu_erf(x);
  cpu::gelu_erf(c.cpu(), x);
}

void silu(const Context& c, Tensor& x) {
  check_f32("silu", x);
  if (on_gpu(x)) return cuda::silu(x);
  if (c.reference()) return ref::silu(x);
  cpu::silu(c.cpu(), x);
}

void silu_mul(const Context& c, const Tensor& gate_up, Tensor& out) {
  check_silu_mul(gate_up, out);
  if (on_gpu(out)) return cuda::silu_mul(gate_up, out);
  if (c.reference()) return ref::silu_mul(gate_up, out);
  cpu::silu_mul(c.cpu(), gate_up, out);
}

void add(const Context& c, Tensor& y, const Tensor& x) {
  check_same("add", y, x);
  if (on_gpu(y)) return cuda::add(y, x);
  if (c.reference()) return ref::add(y, x);
  cpu::add(c.cpu(), y, x);
}

void rope(const Context& c, Tensor& x, int64_t pos0, const RopeTable& table) {
  check_rope(x, pos0, table);
  if (on_gpu(x)) return cuda::rope(x, pos0, table);
  if (c.reference()) return ref::rope(x, pos0, table);
  cpu::rope(c.cpu(), x, pos0, table);
}

void attention(const Context& c, const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out, float scale,
               int64_t causal_offset) {
  check_attention(q, k, v, out);
  if (on_gpu(out)) return cuda::attention(q, k, v, out, scale, causal_offset);
  if (c.reference()) return ref::attention(q, k, v, out, scale, causal_offset);
  cpu::attention(c.cpu(), q, k, v, out, scale, causal_offset);
}

std::vector<int64_t> kv_cache_shape(Device device, int64_t capacity, int64_t Hkv, int64_t Dh) {
  if (kv_head_major(device)) return {Hkv, capacity, Dh};
  return {capacity, Hkv, Dh};
}

bool kv_position_major(const Tensor& cache) { return !kv_head_major(cache.device); }

void kv_write(const Context& c, const Tensor& rows, Tensor& cache, int64_t pos0) {
  check_kv_write(rows, cache, pos0);
  if (!kv_position_major(cache)) return cpu::kv_write(c.cpu(), rows, cache, pos0);
  Tensor dst = cache.rows(pos0, pos0 + rows.shape[0]);
  if (cache.dtype == DType::F32) return copy(rows, dst);
  convert(c, rows, dst);
}

void kv_copy(const Tensor& src, Tensor& dst, int64_t n) {
  check_kv_copy(src, dst, n);
  if (!kv_position_major(src)) return cpu::kv_copy(src, dst, n);
  Tensor d = dst.rows(0, n);
  copy(src.rows(0, n), d);
}

void attention_cached(const Context& c, const Tensor& q, const Tensor& k, const Tensor& v, int64_t S, Tensor& out,
                      float scale, int64_t causal_offset) {
  check_attention_cached(q, k, v, S, out);
  if (kv_position_major(k)) return attention(c, q, k.rows(0, S), v.rows(0, S), out, scale, causal_offset);
  if (!c.reference()) return cpu::attention_cached(c.cpu(), q, k, v, S, out, scale, causal_offset);
  // The reference reads position-major F32 keys: the S positions gathered first.
  const int64_t Hkv = k.shape[0], Dh = k.shape[2];
  OwnedTensor kp = OwnedTensor::empty(DType::F32, {S, Hkv, Dh}), vp = OwnedTensor::empty(DType::F32, {S, Hkv, Dh});
  cpu::kv_gather(k, S, kp.tensor);
  cpu::kv_gather(v, S, vp.tensor);
  ref::attention(q, kp.tensor, vp.tensor, out, scale, causal_offset);
}

void patch_embed(const Context& c, const Tensor& pixels, const Tensor& w, const Tensor& b, Tensor& out) {
  check_patch_embed(pixels, w, b, out);
  if (on_gpu(out)) return cuda::patch_embed(pixels, w, b, out);
  if (c.reference()) return ref::patch_embed(pixels, w, b, out);
  cpu::patch_embed(c.cpu(), pixels, w, b, out);
}

void embed(const Context& c, const Tensor& table, const int* ids, int64_t n, Tensor& out) {
  check_embed(table, ids, n, out);
  if (on_gpu(out)) return cuda::embed(table, ids, n, out);
  if (c.reference()) return ref::embed(table, ids, n, out);
  cpu::embed(c.cpu(), table, ids, n, out);
}

void copy(const Tensor& src, Tensor& dst) {
  check_copy(src, dst);
  if (on_gpu(dst)) return cuda::copy(src, dst);
  cpu::copy(src, dst);
}

void convert(const Context& c, const Tensor& src, Tensor& dst) {
  check_convert(src, dst);
  cpu::convert(c.cpu(), src, dst);
}

void copy_columns(const Tensor& src, int64_t col0, Tensor& dst) {
  check_copy_columns(src, col0, dst);
  if (on_gpu(dst)) return cuda::copy_columns(src, col0, dst);
  cpu::copy_columns(src, col0, dst);
}

int64_t argmax(const Tensor& x) {
  check_f32("argmax", x);
  if (x.numel() == 0) fail_internal("argmax: empty tensor");
  if (on_gpu(x)) return cuda::argmax(x);
  return cpu::argmax(x);
}

void embed_device_id(const Tensor& table, const int* d_id, Tensor& out) {
  if (!on_gpu(out)) fail_internal("embed_device_id: a CPU tensor (device ids are for CUDA graph decoding)");
  cuda::embed_ids_on_device(table, d_id, 1, out);
}

void argmax_to_device(const Tensor& x, int* d_id) {
  if (!on_gpu(x)) fail_internal("argmax_to_device: a CPU tensor (device ids are for CUDA graph decoding)");
  cuda::argmax_on_device(x, d_id);
}

struct StepGraph::Impl {
  Device device;
  cuda::StepGraph graph;
};

StepGraph::StepGraph(Device device) : impl_(new Impl{device, {}}) {}
StepGraph::~StepGraph() = default;

void StepGraph::prepare(int64_t positions, int64_t max_heads, int64_t head_dim) {
  if (impl_->device != Device::CUDA) return;
  cuda::reserve_workspace(std::max<size_t>(16u << 20, cuda::attention_decode_workspace_bytes(positions, max_heads, head_dim)));
  cuda::attention_load_kernels();
}

void StepGraph::run(const std::function<void()>& body) {
  if (impl_->device != Device::CUDA) return body();
  impl_->graph.run(body);
}

int StepGraph::instantiations() const { return impl_->graph.instantiations(); }

}  // namespace tl::ops
