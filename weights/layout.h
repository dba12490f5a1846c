// weights/layout.h — the tensors of a Hugging Face TinyLLaVA checkpoint, derived from its config.
//
// One list, used three ways: the loader binds the checkpoint by it (weights/loader.h), `synth` writes
// random checkpoints from it (weights/synth.h), and `info` reports by it. For the real config it has
// the 614 tensors of the original model.safetensors (MODEL_SPEC §3):
//   language_model.transformer.*            OpenELM (plus language_model.lm_head.weight when untied)
//   vision_tower._vision_tower.vision_model.*   SigLIP, including the parts whose output TinyLLaVA
//                                           never uses: encoder layers past the selected hidden state,
//                                           post_layernorm and the attention-pooling head (head.*)
//   connector._connector.{0,2}.*            the mlp2x_gelu projector
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "weights/config.h"
#include "weights/model_weights.h"

namespace tl {

// How synth initialises a tensor (realistic scales keep random-weight activations alive).
enum class Init {
  Matrix,      // N(0, 0.02): linear weights, embeddings, convolution
  NormWeight,  // 1 + N(0, 0.02): LayerNorm / RMSNorm scales
  Bias,        // N(0, 0.02): biases, LayerNorm shifts
};

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  Init init = Init::Matrix;
  Tensor* slot = nullptr;  // where the loader binds it; nullptr: in the file but unused by the forward
  // A Linear weight (or the token embedding the tied head shares) that ops::matmul / ops::embed read:
  // a quantized checkpoint may store it as Q8/Q4 codes "<name>" plus scales "<name>_scale".
  bool quantizable = false;
};

// The name of a quantized weight's scales tensor.
std::string quant_scale_name(const std::string& weight_name);

// All tensors of the checkpoint for `config`, in a fixed order. When `w` is given, the used ones carry
// a slot in it (w->vision.layers and w->text.layers are sized here).
std::vector<TensorSpec> checkpoint_layout(const VlmConfig& config, ModelWeights* w = nullptr);

}  // namespace tl
