// model/projector.h — TinyLLaVA's mlp2x_gelu connector: Linear(Dv -> D), GELU (exact erf), Linear(D -> D).
#pragma once

#include "kernels/ops.h"
#include "weights/model_weights.h"
#include "tensor/buffer.h"

namespace tl {

// features [N, Dv] -> image embeddings [N, D] (F32).
OwnedTensor project_features(const ops::Context& ctx, const ConnectorWeights& w, const Tensor& features);

}  // namespace tl
