// model/siglip.h — the SigLIP vision tower (transformers' SiglipVisionModel, as TinyLLaVA uses it).
//
//   pixels [C, S, S] --patch embedding (conv p×p, stride p) + position embedding--> h [P, D]
//   L pre-LayerNorm encoder layers:  h += out_proj(attention(LN1(h)));  h += fc2(gelu_tanh(fc1(LN2(h))))
//   features = hidden_states[vision_feature_layer]  (no post_layernorm), then the 'patch' strategy
//   drops token 0 (SigLIP has no CLS token; TinyLLaVA drops the top-left patch anyway).
// Only the layers the selected hidden state needs are computed (26 of 27 for the real model).
#pragma once

#include "kernels/ops.h"
#include "weights/config.h"
#include "weights/model_weights.h"
#include "tensor/buffer.h"

namespace tl {

// Selected image features [P or P - 1, D] (F32) for pixels [C, S, S].
// `arena` holds the activations (grown to the need, reused across calls: fresh pages cost a fault
// and a zeroing each, ~1 % of the encode).
OwnedTensor siglip_features(const ops::Context& ctx, const SiglipWeights& w, const VlmConfig& config, const Tensor& pixels,
                            Arena& arena);

}  // namespace tl
