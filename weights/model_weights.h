// weights/model_weights.h — every weight the forward pass reads, as Tensor views into the mmapped checkpoint.
//
// Shapes are PyTorch's (Linear weights are [out, in]); dtype is whatever the file stores (F32, F16 or
// BF16). weights/loader.h fills these from a checkpoint, checking every shape against the config.
// Glossary: D width, F FFN width, H/Hkv heads, Dh head dim, V vocab, P patches, C channels, p patch size.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace tl {

struct SiglipLayerWeights {
  Tensor ln1_w, ln1_b;    // (D) layer_norm1
  Tensor q_w, k_w, v_w;   // (D, D) self_attn.{q,k,v}_proj.weight
  Tensor q_b, k_b, v_b;   // (D)
  Tensor o_w, o_b;        // (D, D), (D) self_attn.out_proj
  Tensor ln2_w, ln2_b;    // (D) layer_norm2
  Tensor fc1_w, fc1_b;    // (F, D), (F) mlp.fc1
  Tensor fc2_w, fc2_b;    // (D, F), (D) mlp.fc2
};

struct SiglipWeights {
  Tensor patch_w;  // (D, C, p, p) embeddings.patch_embedding.weight
  Tensor patch_b;  // (D)
  Tensor pos_emb;  // (P, D) embeddings.position_embedding.weight
  std::vector<SiglipLayerWeights> layers;  // only the layers the selected hidden state needs
};

struct ConnectorWeights {  // mlp2x_gelu: Linear(Dv -> D), GELU, Linear(D -> D)
  Tensor w1, b1;  // (D, Dv), (D)  _connector.0
  Tensor w2, b2;  // (D, D), (D)   _connector.2
};

struct OpenElmLayerWeights {
  Tensor attn_norm;       // (D)
  Tensor qkv;             // ((H + 2·Hkv)·Dh, D) fused: Q heads, then K heads, then V heads
  Tensor q_norm, k_norm;  // (Dh) per-head RMSNorm weights (undefined without normalize_qk_projections)
  Tensor out_proj;        // (D, H·Dh)
  Tensor ffn_norm;        // (D)
  Tensor proj_1;          // (2F, D) with GLU (gate rows first), (F, D) without
  Tensor proj_2;          // (D, F)
};

struct OpenElmWeights {
  Tensor token_embeddings;  // (V, D)
  std::vector<OpenElmLayerWeights> layers;
  Tensor norm;              // (D) final RMSNorm
  Tensor lm_head;           // (V, D): token_embeddings when tied
};

struct ModelWeights {
  SiglipWeights vision;
  ConnectorWeights connector;
  OpenElmWeights text;
};

}  // namespace tl
