// tests/fuzz/quantized_check.h — the body of fuzz_quantized, shared with the GoogleTest that replays
// its seeds with deterministic mutations in `make test` (tests/weights/test_quantize.cpp), so CI runs
// the same checks under ASan + UBSan without libFuzzer.
//
// The input is the model.safetensors of a micro q4 model (config below; seeds in corpus/quantized).
// Whatever the loader accepts — codes of either dtype, scales, shapes, the float tensors beside them —
// every quantized weight is then read whole by the kernels that decode (the F32 GEMV and, where the CPU
// has it, the int8 one) and by the exact dequantization, so an accepted but inconsistent checkpoint
// shows up as a sanitizer report, not as a wild read in a real run. Refusals must be tl::Errors.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "tensor/buffer.h"
#include "tensor/error.h"
#include "tensor/quant.h"
#include "weights/loader.h"

namespace tl::fuzz {

// vocab 40, D 32, one OpenELM layer; SigLIP D 16, FFN 40 (a padded last group), 2 layers (1 used).
inline const char kConfig[] = R"({"architectures":["TinyLlavaForConditionalGeneration"],"model_type":"tinyllava","connector_type":"mlp2x_gelu","pad_token_id":0,"vocab_size":40,"hidden_size":32,"vision_hidden_size":16,"vision_feature_layer":-2,"vision_feature_select_strategy":"patch","text_config":{"vocab_size":40,"model_dim":32,"head_dim":16,"num_transformer_layers":1,"qkv_multipliers":[1.0,1.0],"num_gqa_groups":1,"ffn_multipliers":[1.0,1.0],"ffn_dim_divisor":16,"ffn_with_glu":true,"normalize_qk_projections":true,"share_input_output_layers":true,"max_context_length":64},"vision_config":{"hidden_size":16,"intermediate_size":40,"num_hidden_layers":2,"num_attention_heads":2,"image_size":28,"patch_size":14,"layer_norm_eps":1e-06},"quantization_config":{"quant_method":"tinyllava","format":"q4","group_size":32,"scale_dtype":"F16"}})";

// A directory holding kConfig, made once per process; the input goes to its model.safetensors.
inline const std::string& quantized_scratch_dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/fuzz-quantized-XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    std::string d = tmpl;
    std::FILE* f = std::fopen((d + "/config.json").c_str(), "wb");
    std::fputs(kConfig, f);
    std::fclose(f);
    return d;
  }();
  return dir;
}

inline void read_quantized_matrix(const ops::Context& c, const Tensor& w) {
  if (!is_quantized(w.dtype)) return;
  OwnedTensor x = OwnedTensor::empty(DType::F32, {1, w.shape[1]});
  OwnedTensor y = OwnedTensor::empty(DType::F32, {1, w.shape[0]});
  for (int64_t k = 0; k < w.shape[1]; ++k) x.tensor.ptr<float>()[k] = 1.0f;
  ops::matmul(c, x.tensor, w, nullptr, y.tensor);
  std::vector<float> row(static_cast<size_t>(w.shape[1]));
  weight_slice_to_f32(w, w.shape[0] - 1, 0, w.shape[1], row.data());
}

// Loads `data` as the micro model's model.safetensors and reads every quantized weight; a refusal is a
// tl::Error (thrown), anything else — a crash, a sanitizer report — is a finding. Returns whether the
// bytes were accepted.
inline bool check_quantized_checkpoint(const uint8_t* data, size_t size) {
  const std::string path = quantized_scratch_dir() + "/model.safetensors";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  const LoadedModel m = load_model(quantized_scratch_dir());
  ops::Options exact, fast;
  fast.precision = ops::Precision::BF16;  // int8 decode activations where the CPU has VNNI
  for (const ops::Options& o : {exact, fast}) {
    const ops::Context c(o);
    for (const OpenElmLayerWeights& L : m.weights.text.layers)
      for (const Tensor* w : {&L.qkv, &L.out_proj, &L.proj_1, &L.proj_2}) read_quantized_matrix(c, *w);
    read_quantized_matrix(c, m.weights.text.lm_head);
    for (const SiglipLayerWeights& L : m.weights.vision.layers)
      for (const Tensor* w : {&L.q_w, &L.k_w, &L.v_w, &L.o_w, &L.fc1_w, &L.fc2_w}) read_quantized_matrix(c, *w);
    read_quantized_matrix(c, m.weights.connector.w1);
    read_quantized_matrix(c, m.weights.connector.w2);
  }
  return true;
}

}  // namespace tl::fuzz
