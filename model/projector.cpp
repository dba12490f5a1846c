// model/projector.cpp — the mlp2x_gelu connector (contract in projector.h).
#include "model/projector.h"

#include "kernels/ops.h"
#include "tensor/error.h"

namespace tl {

OwnedTensor project_features(const ops::Context& ctx, const ConnectorWeights& w, const Tensor& features) {
  const int64_t N = features.shape[0], D = w.w1.shape[0];
  TL_CHECK(features.ndim == 2 && features.shape[1] == w.w1.shape[1]);
  OwnedTensor hidden = OwnedTensor::empty(DType::F32, {N, D}, features.device);  // (N, D)
  OwnedTensor out = OwnedTensor::empty(DType::F32, {N, D}, features.device);     // (N, D)
  ops::matmul(ctx, features, w.w1, &w.b1, hidden.tensor, ops::Epilogue::GeluErf);
  ops::matmul(ctx, hidden.tensor, w.w2, &w.b2, out.tensor);
  return out;
}

}  // namespace tl
