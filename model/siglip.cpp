// model/siglip.cpp — SigLIP forward pass (contract in siglip.h).
#include "model/siglip.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/ops.h"
#include "tensor/error.h"

namespace tl {

OwnedTensor siglip_features(const ops::Context& ctx, const SiglipWeights& w, const VlmConfig& config, const Tensor& pixels,
                            Arena& arena) {
  const VisionConfig& c = config.vision;
  const int64_t P = c.num_patches(), D = c.hidden_size, F = c.intermediate_size;
  const int64_t H = c.num_attention_heads, Dh = c.head_dim();
  const int layers = config.vision_layers_used();
  if (!pixels.has_shape({c.num_channels, c.image_size, c.image_size}))
    fail_input("pixel values: shape %s (expected [%d, %d, %d])", shape_str(pixels).c_str(), c.num_channels,
               c.image_size, c.image_size);
  TL_CHECK(static_cast<int>(w.layers.size()) == layers);

  // Activations: h, a, q, k, v, att [P, D] and the MLP's [P, F].
  const size_t need = (6 * P * D + P * F) * sizeof(float) + 16 * kAlignment;
  if (arena.capacity() < need || arena.device() != pixels.device) arena = Arena(need, pixels.device);
  arena.reset();
  Tensor h = arena.alloc(DType::F32, {P, D});    // (P, D) residual stream
  Tensor a = arena.alloc(DType::F32, {P, D});    // (P, D) normed input / block output
  Tensor q = arena.alloc(DType::F32, {P, D});    // (P, H·Dh)
  Tensor k = arena.alloc(DType::F32, {P, D});
  Tensor v = arena.alloc(DType::F32, {P, D});
  Tensor att = arena.alloc(DType::F32, {P, D});  // (P, H·Dh) attention output
  Tensor m = arena.alloc(DType::F32, {P, F});    // (P, F) MLP hidden

  // Embeddings: patches + learned absolute positions (rows 0..P-1).
  ops::patch_embed(ctx, pixels, w.patch_w, w.patch_b, h);
  std::vector<int> positions(static_cast<size_t>(P));
  std::iota(positions.begin(), positions.end(), 0);
  ops::embed(ctx, w.pos_emb, positions.data(), P, a);
  ops::add(ctx, h, a);

  const float scale = static_cast<float>(std::pow(static_cast<double>(Dh), -0.5));
  for (int j = 0; j < layers; ++j) {
    const SiglipLayerWeights& L = w.layers[j];
    // Self-attention block.
    ops::layernorm(ctx, h, L.ln1_w, L.ln1_b, c.layer_norm_eps, a);
    ops::matmul(ctx, a, L.q_w, &L.q_b, q);
    ops::matmul(ctx, a, L.k_w, &L.k_b, k);
    ops::matmul(ctx, a, L.v_w, &L.v_b, v);
    Tensor q3 = q.reshape({P, H, Dh}), k3 = k.reshape({P, H, Dh}), v3 = v.reshape({P, H, Dh});
    Tensor att3 = att.reshape({P, H, Dh});
    ops::attention(ctx, q3, k3, v3, att3, scale, ops::kNonCausal);
    ops::matmul(ctx, att, L.o_w, &L.o_b, a);
    ops::add(ctx, h, a);
    // MLP block.
    ops::layernorm(ctx, h, L.ln2_w, L.ln2_b, c.layer_norm_eps, a);
    ops::matmul(ctx, a, L.fc1_w, &L.fc1_b, m, ops::Epilogue::GeluTanh);
    ops::matmul(ctx, m, L.fc2_w, &L.fc2_b, a);
    ops::add(ctx, h, a);
  }

  // Feature selection: 'patch' drops token 0, 'cls_patch' keeps all.
  const int64_t first = config.vision_feature_select_strategy == "patch" ? 1 : 0;
  OwnedTensor out = OwnedTensor::empty(DType::F32, {P - first, D}, pixels.device);
  ops::copy(h.rows(first, P), out.tensor);
  return out;
}

}  // namespace tl
