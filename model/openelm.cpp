// model/openelm.cpp — OpenELM forward pass (contract in openelm.h).
#include "model/openelm.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/arith.h"
#include "tensor/error.h"
#include "tensor/quant.h"

namespace tl {

namespace {

constexpr float kNormEps = 1e-6f;  // OpenELMRMSNorm default, used by every norm of the model

// Whether the QKV split can write K and V rows straight into the cache: one sequence, an F32 cache
// whose positions are rows (position-major: CUDA's layout). Otherwise they pass the arena (staged).
bool kv_rows_in_place(const KvCache& cache, size_t segments) {
  return segments == 1 && cache.dtype == DType::F32 && !cache.k.empty() && ops::kv_position_major(cache.k[0].tensor);
}

}  // namespace

KvCache::KvCache(const TextConfig& c, int64_t cap, Device device, DType dt) : capacity(cap), dtype(dt) {
  for (const TextLayerConfig& l : c.layers) {
    k.push_back(OwnedTensor::empty(dt, ops::kv_cache_shape(device, cap, l.num_kv_heads, c.head_dim), device));
    v.push_back(OwnedTensor::empty(dt, ops::kv_cache_shape(device, cap, l.num_kv_heads, c.head_dim), device));
  }
}

void KvCache::reserve(const TextConfig& c, int64_t positions, Device device) {
  if (positions <= capacity) return;
  KvCache grown(c, positions, device, dtype);
  for (size_t l = 0; l < k.size() && length > 0; ++l) {
    ops::kv_copy(k[l].tensor, grown.k[l].tensor, length);
    ops::kv_copy(v[l].tensor, grown.v[l].tensor, length);
  }
  grown.length = length;
  *this = std::move(grown);
}

KvCache KvCache::clone() const {
  KvCache c;
  c.capacity = capacity;
  c.length = length;
  c.dtype = dtype;
  for (size_t l = 0; l < k.size(); ++l) {
    c.k.push_back(OwnedTensor::empty(dtype, k[l].tensor.shape_vec(), k[l].tensor.device));
    c.v.push_back(OwnedTensor::empty(dtype, v[l].tensor.shape_vec(), v[l].tensor.device));
    if (length == 0) continue;
    ops::kv_copy(k[l].tensor, c.k[l].tensor, length);
    ops::kv_copy(v[l].tensor, c.v[l].tensor, length);
  }
  return c;
}

size_t KvCache::bytes() const {
  size_t n = 0;
  for (const OwnedTensor& t : k) n += t.tensor.nbytes();
  return 2 * n;
}

OpenElm::OpenElm(const OpenElmWeights& weights, const TextConfig& config, bool mapped_source)
    : w_(weights), c_(config) {
  std::vector<Tensor*> matrices = {&w_.token_embeddings};
  for (OpenElmLayerWeights& L : w_.layers)
    for (Tensor* t : {&L.qkv, &L.out_proj, &L.proj_1, &L.proj_2}) matrices.push_back(t);
  if (w_.lm_head.data != w_.token_embeddings.data) matrices.push_back(&w_.lm_head);
  auto aligned = [](size_t n) { return round_up(n, kAlignment); };
  auto scale_bytes = [](const Tensor& t) {  // Q8/Q4 scales: read with the codes on every step
    return t.scales ? static_cast<size_t>(t.shape[0] * quant_groups(t.shape[1])) * sizeof(uint16_t) : size_t{0};
  };
  size_t bytes = 0;
  for (const Tensor* t : matrices) {
    if (!t->data || t->device != Device::CPU) return;
    bytes += aligned(t->nbytes()) + aligned(scale_bytes(*t));
  }
  resident_ = HugePageMemory(bytes);
  if (!resident_.data()) return;  // no huge pages on this system: read the mapping
  const void* embeddings = w_.token_embeddings.data;
  uint8_t* dst = resident_.data();
  auto move = [&](const void* src, size_t n) {
    std::memcpy(dst, src, n);
    if (mapped_source) release_mapped_pages(src, n);
    dst += aligned(n);
    return dst - aligned(n);
  };
  for (Tensor* t : matrices) {
    t->data = move(t->data, t->nbytes());
    if (t->scales) t->scales = reinterpret_cast<const uint16_t*>(move(t->scales, scale_bytes(*t)));
  }
  if (w_.lm_head.data == embeddings) w_.lm_head = w_.token_embeddings;  // tied
}

void OpenElm::embed(const ops::Context& ctx, const int* ids, int64_t n, Tensor& out) const {
  ops::embed(ctx, w_.token_embeddings, ids, n, out);
}

void OpenElm::forward(const ops::Context& ctx, const Tensor& x, KvCache& cache, Tensor& logits, bool all_positions) {
  forward(ctx, x, {Segment{&cache, x.shape[0]}}, logits, all_positions);
}

void OpenElm::forward(const ops::Context& ctx, const Tensor& x, const std::vector<Segment>& segments, Tensor& logits,
                      bool all_positions) {
  const int64_t T = x.shape[0], D = c_.model_dim, V = c_.vocab_size;
  TL_CHECK(x.has_shape({T, D}) && T > 0 && !segments.empty());
  int64_t rows = 0, capacity = 0;
  for (const Segment& s : segments) {
    TL_CHECK(s.rows > 0 && s.cache->dtype == segments[0].cache->dtype);
    if (s.cache->length + s.rows > s.cache->capacity)
      fail_internal("KV cache full: %lld + %lld positions, capacity %lld", static_cast<long long>(s.cache->length),
                    static_cast<long long>(s.rows), static_cast<long long>(s.cache->capacity));
    rows += s.rows;
    capacity = std::max(capacity, s.cache->capacity);
  }
  TL_CHECK(rows == T);
  const int64_t out_rows = all_positions ? T : static_cast<int64_t>(segments.size());
  // The table covers the caches' whole capacity, so a step replayed as a CUDA graph never rebuilds it.
  if (rope_.positions < capacity) rope_ = ops::RopeTable::make(c_.head_dim, c_.rope_freq_constant, capacity);
  TL_CHECK(logits.dtype == DType::F32 && logits.numel() == out_rows * V);
  reserve_activations(T, x.device, !kv_rows_in_place(*segments[0].cache, segments.size()));
  Tensor h = arena_.alloc(DType::F32, {T, D});  // (T, D) residual stream
  Tensor a = arena_.alloc(DType::F32, {T, D});  // (T, D) normed input / block output
  ops::copy(x, h);
  for (size_t l = 0; l < c_.layers.size(); ++l) {
    const size_t mark = arena_.mark();
    attention_block(ctx, static_cast<int>(l), h, a, segments);
    ffn_block(ctx, static_cast<int>(l), h, a);
    arena_.release(mark);
  }
  for (const Segment& s : segments) s.cache->length += s.rows;

  // Final norm and output head, on the rows whose logits are wanted (each segment's last, gathered).
  Tensor normed = a.rows(0, out_rows);
  if (all_positions || segments.size() == 1) {
    ops::rmsnorm(ctx, h.rows(T - out_rows, T), w_.norm, kNormEps, normed);
  } else {
    int64_t end = 0;
    for (size_t s = 0; s < segments.size(); ++s) {
      end += segments[s].rows;
      Tensor dst = normed.rows(static_cast<int64_t>(s), static_cast<int64_t>(s) + 1);
      ops::copy(h.rows(end - 1, end), dst);
    }
    ops::rmsnorm(ctx, normed, w_.norm, kNormEps, normed);
  }
  Tensor out = logits.reshape({out_rows, V});
  ops::matmul(ctx, normed, w_.lm_head, nullptr, out);
}

// The arena holds one layer's activations at the widest layer, for T rows.
void OpenElm::reserve_activations(int64_t T, Device device, bool staged_kv) {
  const int64_t D = c_.model_dim, Dh = c_.head_dim;
  int64_t max_qkv = 0, max_q = 0, max_ffn = 0;
  for (size_t l = 0; l < c_.layers.size(); ++l) {
    max_qkv = std::max<int64_t>(max_qkv, c_.qkv_rows(static_cast<int>(l)));
    max_q = std::max<int64_t>(max_q, c_.layers[l].num_query_heads * Dh);
    max_ffn = std::max<int64_t>(max_ffn, c_.layers[l].ffn_dim);
  }
  const int64_t proj1_cols = c_.ffn_with_glu ? 2 * max_ffn : max_ffn;
  // With an F16 cache, K and V rows pass the arena first (fewer than max_qkv values a row together).
  const int64_t kv_rows = staged_kv ? max_qkv : 0;
  const size_t need = static_cast<size_t>(T * (2 * D + max_qkv + kv_rows + 2 * max_q + proj1_cols + max_ffn)) *
                          sizeof(float) + 18 * kAlignment;
  if (arena_.capacity() < need || arena_.device() != device) arena_ = Arena(need, device);
  arena_.reset();
}

// h += out_proj(attention(q, k, v)) for layer l; each segment's new keys and values go into its cache
// at positions cache.length .. cache.length + rows - 1.
void OpenElm::attention_block(const ops::Context& ctx, int l, Tensor& h, Tensor& a,
                              const std::vector<Segment>& segments) {
  const OpenElmLayerWeights& L = w_.layers[l];
  const int64_t T = h.shape[0], Dh = c_.head_dim;
  const int64_t Hq = c_.layers[l].num_query_heads, Hkv = c_.layers[l].num_kv_heads;
  Tensor qkv = arena_.alloc(DType::F32, {T, (Hq + 2 * Hkv) * Dh});  // (T, (H + 2·Hkv)·Dh)
  Tensor q = arena_.alloc(DType::F32, {T, Hq, Dh});                // (T, H, Dh)
  Tensor att = arena_.alloc(DType::F32, {T, Hq, Dh});              // (T, H, Dh)

  // Fused QKV projection over all rows, split into heads. One sequence's K and V go straight into an
  // F32 position-major cache (CUDA); otherwise they pass the arena and are written into each cache (a
  // head-major one per head; an F16 one rounds them once, after the norm and the rotation).
  ops::rmsnorm(ctx, h, L.attn_norm, kNormEps, a);
  ops::matmul(ctx, a, L.qkv, nullptr, qkv);
  KvCache& first = *segments[0].cache;
  const bool staged = !kv_rows_in_place(first, segments.size());
  const int64_t p0 = first.length;
  Tensor k_new = staged ? arena_.alloc(DType::F32, {T, Hkv, Dh}) : first.k[l].tensor.rows(p0, p0 + T);  // (T, Hkv, Dh)
  Tensor v_new = staged ? arena_.alloc(DType::F32, {T, Hkv, Dh}) : first.v[l].tensor.rows(p0, p0 + T);
  Tensor q2 = q.reshape({T, Hq * Dh}), k2 = k_new.reshape({T, Hkv * Dh}), v2 = v_new.reshape({T, Hkv * Dh});
  ops::copy_columns(qkv, 0, q2);
  ops::copy_columns(qkv, Hq * Dh, k2);
  ops::copy_columns(qkv, (Hq + Hkv) * Dh, v2);
  if (c_.normalize_qk_projections) {
    Tensor q_rows = q.reshape({T * Hq, Dh}), k_rows = k_new.reshape({T * Hkv, Dh});
    ops::rmsnorm(ctx, q_rows, L.q_norm, kNormEps, q_rows);
    ops::rmsnorm(ctx, k_rows, L.k_norm, kNormEps, k_rows);
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  int64_t r0 = 0;
  for (const Segment& s : segments) {
    KvCache& cache = *s.cache;
    const int64_t r1 = r0 + s.rows, pos0 = cache.length, end = pos0 + s.rows;
    Tensor qs = q.rows(r0, r1), ks = k_new.rows(r0, r1), vs = v_new.rows(r0, r1), out = att.rows(r0, r1);
    ops::rope(ctx, qs, pos0, rope_);
    ops::rope(ctx, ks, pos0, rope_);
    if (staged) {
      ops::kv_write(ctx, ks, cache.k[l].tensor, pos0);
      ops::kv_write(ctx, vs, cache.v[l].tensor, pos0);
    }
    ops::attention_cached(ctx, qs, cache.k[l].tensor, cache.v[l].tensor, end, out, scale, pos0);
    r0 = r1;
  }
  ops::matmul(ctx, att.reshape({T, Hq * Dh}), L.out_proj, nullptr, a);
  ops::add(ctx, h, a);
}

// h += proj_2(silu(gate) ⊙ up) (GLU) or proj_2(silu(proj_1 x)) for layer l.
void OpenElm::ffn_block(const ops::Context& ctx, int l, Tensor& h, Tensor& a) {
  const OpenElmLayerWeights& L = w_.layers[l];
  const int64_t T = h.shape[0], F = c_.layers[l].ffn_dim;
  Tensor y = arena_.alloc(DType::F32, {T, c_.ffn_with_glu ? 2 * F : F});  // (T, 2F) gate | up
  ops::rmsnorm(ctx, h, L.ffn_norm, kNormEps, a);
  ops::matmul(ctx, a, L.proj_1, nullptr, y);
  Tensor z = y;
  if (c_.ffn_with_glu) {
    z = arena_.alloc(DType::F32, {T, F});  // (T, F)
    ops::silu_mul(ctx, y, z);
  } else {
    ops::silu(ctx, y);
  }
  ops::matmul(ctx, z, L.proj_2, nullptr, a);
  ops::add(ctx, h, a);
}

}  // namespace tl
