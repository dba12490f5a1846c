// weights/loader.h — open a checkpoint directory and bind every tensor the forward pass needs.
//
// load_model(dir) reads dir/config.json (weights/config.h), opens the safetensors file(s)
// (weights/safetensors.h) and walks checkpoint_layout() (weights/layout.h):
//   * a tensor the forward pass needs that is missing is an error naming it and its expected shape;
//   * any tensor whose shape differs from the config's is an error naming expected and actual shape;
//   * tensors recognised as unused by the output (SigLIP layers past vision_feature_layer,
//     post_layernorm, head.*) are listed in `unused` and never read — they stay on disk;
//   * a tensor the layout does not know is an error (the file is not this architecture or config).
// Weights are Tensor views into the read-only mapping, in their stored dtype (F32, F16 or BF16).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "weights/config.h"
#include "weights/model_weights.h"
#include "weights/safetensors.h"

namespace tl {

struct LoadedModel {
  std::string dir;
  VlmConfig config;
  std::unique_ptr<Checkpoint> checkpoint;   // owns the mappings the weights point into
  ModelWeights weights;
  std::vector<const TensorEntry*> used;     // bound to `weights`, layout order
  std::vector<const TensorEntry*> unused;   // recognised, not needed for the output

  // Bytes of weights the forward pass reads (sum over `used`).
  uint64_t used_bytes() const;
};

LoadedModel load_model(const std::string& dir);

}  // namespace tl
