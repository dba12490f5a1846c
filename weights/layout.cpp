// weights/layout.cpp — checkpoint_layout(): names and shapes of every tensor, from the config.
#include "weights/layout.h"

namespace tl {

namespace {

using Specs = std::vector<TensorSpec>;

void add(Specs& b, std::string name, std::vector<int64_t> shape, Init init, Tensor* slot) {
  b.push_back({std::move(name), std::move(shape), init, slot});
}

void add_linear(Specs& b, std::string name, std::vector<int64_t> shape, Tensor* slot) {
  b.push_back({std::move(name), std::move(shape), Init::Matrix, slot, true});
}

template <typename T>
T* slot_in(std::vector<T>* v, int i) {
  return v && i < static_cast<int>(v->size()) ? &(*v)[i] : nullptr;
}

void add_openelm(Specs& b, const TextConfig& c, OpenElmWeights* w) {
  const std::string p = "language_model.transformer.";
  const int64_t D = c.model_dim, Dh = c.head_dim, V = c.vocab_size;
  if (w) w->layers.resize(c.layers.size());
  add_linear(b, p + "token_embeddings.weight", {V, D}, w ? &w->token_embeddings : nullptr);
  for (int l = 0; l < static_cast<int>(c.layers.size()); ++l) {
    const TextLayerConfig& y = c.layers[l];
    OpenElmLayerWeights* lw = w ? &w->layers[l] : nullptr;
    const std::string q = p + "layers." + std::to_string(l) + ".";
    const int64_t F = y.ffn_dim;
    add(b, q + "attn_norm.weight", {D}, Init::NormWeight, lw ? &lw->attn_norm : nullptr);
    add_linear(b, q + "attn.qkv_proj.weight", {c.qkv_rows(l), D}, lw ? &lw->qkv : nullptr);
    if (c.normalize_qk_projections) {
      add(b, q + "attn.q_norm.weight", {Dh}, Init::NormWeight, lw ? &lw->q_norm : nullptr);
      add(b, q + "attn.k_norm.weight", {Dh}, Init::NormWeight, lw ? &lw->k_norm : nullptr);
    }
    add_linear(b, q + "attn.out_proj.weight", {D, y.num_query_heads * Dh}, lw ? &lw->out_proj : nullptr);
    add(b, q + "ffn_norm.weight", {D}, Init::NormWeight, lw ? &lw->ffn_norm : nullptr);
    add_linear(b, q + "ffn.proj_1.weight", {c.ffn_with_glu ? 2 * F : F, D}, lw ? &lw->proj_1 : nullptr);
    add_linear(b, q + "ffn.proj_2.weight", {D, F}, lw ? &lw->proj_2 : nullptr);
  }
  add(b, p + "norm.weight", {D}, Init::NormWeight, w ? &w->norm : nullptr);
  if (!c.share_input_output_layers)
    add_linear(b, "language_model.lm_head.weight", {V, D}, w ? &w->lm_head : nullptr);
}

void add_siglip(Specs& b, const VisionConfig& c, int layers_used, SiglipWeights* w) {
  const std::string p = "vision_tower._vision_tower.vision_model.";
  const int64_t D = c.hidden_size, F = c.intermediate_size, P = c.num_patches();
  if (w) w->layers.resize(layers_used);
  add(b, p + "embeddings.patch_embedding.weight", {D, c.num_channels, c.patch_size, c.patch_size}, Init::Matrix,
        w ? &w->patch_w : nullptr);
  add(b, p + "embeddings.patch_embedding.bias", {D}, Init::Bias, w ? &w->patch_b : nullptr);
  add(b, p + "embeddings.position_embedding.weight", {P, D}, Init::Matrix, w ? &w->pos_emb : nullptr);
  for (int j = 0; j < c.num_hidden_layers; ++j) {
    SiglipLayerWeights* lw = w ? slot_in(&w->layers, j) : nullptr;  // null past the used layers
    const std::string q = p + "encoder.layers." + std::to_string(j) + ".";
    auto layer = [&](const char* name, std::vector<int64_t> shape, Init init, Tensor SiglipLayerWeights::*field) {
      const bool linear = init == Init::Matrix;  // every Matrix of a SigLIP layer is a Linear weight
      b.push_back({q + name, std::move(shape), init, lw ? &(lw->*field) : nullptr, linear});
    };
    layer("layer_norm1.weight", {D}, Init::NormWeight, &SiglipLayerWeights::ln1_w);
    layer("layer_norm1.bias", {D}, Init::Bias, &SiglipLayerWeights::ln1_b);
    layer("self_attn.k_proj.weight", {D, D}, Init::Matrix, &SiglipLayerWeights::k_w);
    layer("self_attn.k_proj.bias", {D}, Init::Bias, &SiglipLayerWeights::k_b);
    layer("self_attn.v_proj.weight", {D, D}, Init::Matrix, &SiglipLayerWeights::v_w);
    layer("self_attn.v_proj.bias", {D}, Init::Bias, &SiglipLayerWeights::v_b);
    layer("self_attn.q_proj.weight", {D, D}, Init::Matrix, &SiglipLayerWeights::q_w);
    layer("self_attn.q_proj.bias", {D}, Init::Bias, &SiglipLayerWeights::q_b);
    layer("self_attn.out_proj.weight", {D, D}, Init::Matrix, &SiglipLayerWeights::o_w);
    layer("self_attn.out_proj.bias", {D}, Init::Bias, &SiglipLayerWeights::o_b);
    layer("layer_norm2.weight", {D}, Init::NormWeight, &SiglipLayerWeights::ln2_w);
    layer("layer_norm2.bias", {D}, Init::Bias, &SiglipLayerWeights::ln2_b);
    layer("mlp.fc1.weight", {F, D}, Init::Matrix, &SiglipLayerWeights::fc1_w);
    layer("mlp.fc1.bias", {F}, Init::Bias, &SiglipLayerWeights::fc1_b);
    layer("mlp.fc2.weight", {D, F}, Init::Matrix, &SiglipLayerWeights::fc2_w);
    layer("mlp.fc2.bias", {D}, Init::Bias, &SiglipLayerWeights::fc2_b);
  }
  // SiglipVisionTransformer.post_layernorm and the attention-pooling head: stored, never used.
  add(b, p + "post_layernorm.weight", {D}, Init::NormWeight, nullptr);
  add(b, p + "post_layernorm.bias", {D}, Init::Bias, nullptr);
  add(b, p + "head.probe", {1, 1, D}, Init::Matrix, nullptr);
  add(b, p + "head.attention.in_proj_weight", {3 * D, D}, Init::Matrix, nullptr);
  add(b, p + "head.attention.in_proj_bias", {3 * D}, Init::Bias, nullptr);
  add(b, p + "head.attention.out_proj.weight", {D, D}, Init::Matrix, nullptr);
  add(b, p + "head.attention.out_proj.bias", {D}, Init::Bias, nullptr);
  add(b, p + "head.layernorm.weight", {D}, Init::NormWeight, nullptr);
  add(b, p + "head.layernorm.bias", {D}, Init::Bias, nullptr);
  add(b, p + "head.mlp.fc1.weight", {F, D}, Init::Matrix, nullptr);
  add(b, p + "head.mlp.fc1.bias", {F}, Init::Bias, nullptr);
  add(b, p + "head.mlp.fc2.weight", {D, F}, Init::Matrix, nullptr);
  add(b, p + "head.mlp.fc2.bias", {D}, Init::Bias, nullptr);
}

void add_connector(Specs& b, const VlmConfig& c, ConnectorWeights* w) {
  const std::string p = "connector._connector.";
  const int64_t D = c.text.model_dim, Dv = c.vision.hidden_size;
  add_linear(b, p + "0.weight", {D, Dv}, w ? &w->w1 : nullptr);
  add(b, p + "0.bias", {D}, Init::Bias, w ? &w->b1 : nullptr);
  add_linear(b, p + "2.weight", {D, D}, w ? &w->w2 : nullptr);
  add(b, p + "2.bias", {D}, Init::Bias, w ? &w->b2 : nullptr);
}

}  // namespace

std::string quant_scale_name(const std::string& weight_name) { return weight_name + "_scale"; }

std::vector<TensorSpec> checkpoint_layout(const VlmConfig& config, ModelWeights* w) {
  Specs out;
  add_openelm(out, config.text, w ? &w->text : nullptr);
  add_siglip(out, config.vision, config.vision_layers_used(), w ? &w->vision : nullptr);
  add_connector(out, config, w ? &w->connector : nullptr);
  return out;
}

}  // namespace tl
