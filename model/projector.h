// model/projector.h — TinyLLaVA's connector, `mlp2x_gelu` (TinyLLaVA_Factory tinyllava/model/connector/
// mlp.py: Sequential(Linear(Dv, D), GELU(), Linear(D, D)); weights connector._connector.{0,2}):
//   y = W₂·GELU(W₁·f + b₁) + b₂, GELU the exact erf form (nn.GELU's default), fused into the first
//   product's epilogue.
// features: F32 [N, Dv] (the selected SigLIP hidden state) on the engine's device; the result is F32
// [N, D] on the same device. Numerics are the Context's (kernels/ops.h): exact F32 products on weights
// converted exactly from their stored dtype, or bf16 products where the Context asks for them.
#pragma once

#include "kernels/ops.h"
#include "weights/model_weights.h"
#include "tensor/buffer.h"

namespace tl {

// features [N, Dv] -> image embeddings [N, D] (F32).
OwnedTensor project_features(const ops::Context& ctx, const ConnectorWeights& w, const Tensor& features);

}  // namespace tl
