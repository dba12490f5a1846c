// model/openelm.h — the OpenELM decoder (Apple's modeling_openelm.py) with a KV cache.
//
// Per layer l (pre-norm residual), for T new tokens at positions p0 .. p0+T-1:
//   x = RMSNorm(h; attn_norm)
//   q | k | v = x · qkv_projᵀ, split into H_l query, Hkv_l key and Hkv_l value heads of Dh
//   q, k = per-head RMSNorm (q_norm, k_norm), then rotate-half RoPE at their positions
//   k, v appended to the cache; attention over all cached keys, causal, query head h -> KV head h/(H/Hkv)
//   h += concat_heads(attn) · out_projᵀ
//   y = RMSNorm(h; ffn_norm) · proj_1ᵀ;  h += (silu(y[:, :F]) ⊙ y[:, F:]) · proj_2ᵀ   (GLU; else silu(y))
// then logits = RMSNorm(h; norm) · lm_headᵀ (lm_head = token_embeddings when tied).
// Prefill (T = prompt length), decode (T = 1) and batched decode (one row for each of B sequences, each
// with its own cache) run through the same forward(): the projections see all rows at once (one
// B-row GEMM reads each weight once per step), RoPE and attention run per sequence.
#pragma once

#include <vector>

#include "kernels/ops.h"
#include "weights/config.h"
#include "weights/model_weights.h"
#include "tensor/buffer.h"
#include "weights/file.h"

namespace tl {

struct KvCache {
  int64_t capacity = 0;  // positions it can hold
  int64_t length = 0;    // positions filled (a session truncates by lowering it)
  // F32, or F16 for the CPU's bf16 path (Engine::kv_dtype: half the bytes decode attention reads; the
  // values rounded to nearest even, 2^-11 relative, inside that path's bf16 error budget).
  DType dtype = DType::F32;
  std::vector<OwnedTensor> k, v;  // per layer: keys already normalized and rotated, on the device the
                                  // model runs on, laid out for it (ops::kv_cache_shape: [Hkv_l, capacity,
                                  // Dh] on the CPU, [capacity, Hkv_l, Dh] on CUDA); written and read
                                  // through ops::kv_write, kv_copy and attention_cached

  KvCache() = default;
  KvCache(const TextConfig& config, int64_t capacity, Device device = Device::CPU, DType dtype = DType::F32);
  // Grows to at least `positions` (keeping the filled ones); never shrinks.
  void reserve(const TextConfig& config, int64_t positions, Device device);
  KvCache clone() const;  // a deep copy of the filled positions
  size_t bytes() const;
};

class OpenElm {
 public:
  // On the CPU, copies the matrices (QKV, out, FFN projections, embeddings / output head) into huge
  // pages (~0.13 s for the full-size model from the page cache). With `mapped_source` the weights are
  // views of a read-only file mapping (MappedFile) and the copied ranges are dropped from it, so
  // resident memory does not grow; never set it for heap tensors (release_mapped_pages would zero
  // them). Weights on the GPU are used in place.
  OpenElm(const OpenElmWeights& weights, const TextConfig& config, bool mapped_source = false);

  // out[n, D] = token embeddings of ids (each must be in [0, V)).
  void embed(const ops::Context& ctx, const int* ids, int64_t n, Tensor& out) const;
  const Tensor& token_embeddings() const { return w_.token_embeddings; }

  // Runs x [T, D] at positions cache.length .. cache.length + T - 1, appends to the cache, and writes
  // logits: [V] of the last position, or [T, V] when all_positions.
  void forward(const ops::Context& ctx, const Tensor& x, KvCache& cache, Tensor& logits, bool all_positions = false);

  // Consecutive rows of x that continue one sequence: `rows` new positions after cache->length.
  struct Segment {
    KvCache* cache;
    int64_t rows;
  };
  // Several sequences in one pass: x [ΣT_s, D], segment s's rows at its cache's next positions.
  // logits [S, V]: the last row of each segment (or [ΣT_s, V], every row, when all_positions). The
  // caches are distinct and of one dtype. Each sequence's result equals its own forward() up to the
  // GEMM's summation order for a different row count (the bf16 path: its stated bound; F32: ~1e-6).
  void forward(const ops::Context& ctx, const Tensor& x, const std::vector<Segment>& segments, Tensor& logits,
               bool all_positions = false);

 private:
  void reserve_activations(int64_t T, Device device, bool staged_kv);  // staged_kv: K, V rows pass the arena
  void attention_block(const ops::Context& ctx, int l, Tensor& h, Tensor& a, const std::vector<Segment>& segments);
  void ffn_block(const ops::Context& ctx, int l, Tensor& h, Tensor& a);

  // The caller's weight views, except that on the CPU the matrices point into resident_: a copy in
  // huge pages (decode streams all ~0.9 GB of them per token; from 4 KiB file pages it ran ~7 % slower).
  OpenElmWeights w_;
  HugePageMemory resident_;
  const TextConfig& c_;
  ops::RopeTable rope_;  // grown to the positions in use (never past max_context_length)
  Arena arena_;  // activations, grown to the largest T seen; decode steps allocate nothing
};

}  // namespace tl
