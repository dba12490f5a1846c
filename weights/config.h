// weights/config.h — the typed, validated configuration of a TinyLLaVA-OpenELM-SigLIP checkpoint.
//
// Read from the checkpoint's config.json exactly as the original Python classes read it:
//   TinyLlavaConfig      (top level; TinyLLaVA_Factory configuration_tinyllava.py)
//   SiglipVisionConfig   (vision_config; transformers)
//   OpenELMConfig        (text_config; Apple configuration_openelm.py)
// Fields absent from the JSON take those classes' defaults. OpenELM's per-layer head counts are
// *derived* from qkv_multipliers (as OpenELMConfig.__post_init__ does; the num_query_heads and
// num_kv_heads lists in the file are overwritten there, so here they must agree or are refused), and
// the FFN widths from ffn_multipliers (MODEL_SPEC §2.6). Every shape the engine uses comes from here.
//
// Dimension glossary (also in README): T tokens, D width, H/Hkv heads, Dh head dim, F FFN width,
// V vocab, P patches.
//
// Unsupported values are refused with the field named: connector_type other than mlp2x_gelu,
// image_aspect_ratio other than square/pad, activations or norms other than the model's.
#pragma once

#include <string>
#include <vector>

#include "weights/json.h"

namespace tl {

struct VisionConfig {  // SigLIP vision transformer
  int hidden_size = 768;           // D
  int intermediate_size = 3072;    // F
  int num_hidden_layers = 12;      // encoder layers in the checkpoint
  int num_attention_heads = 12;    // H
  int num_channels = 3;
  int image_size = 224;            // input is image_size × image_size
  int patch_size = 16;
  float layer_norm_eps = 1e-6f;
  std::string hidden_act = "gelu_pytorch_tanh";

  int head_dim() const { return hidden_size / num_attention_heads; }  // Dh
  int grid() const { return (image_size - patch_size) / patch_size + 1; }  // patches per side
  int num_patches() const { return grid() * grid(); }                   // P
};

struct TextLayerConfig {  // one OpenELM decoder layer
  int num_query_heads = 0;  // H
  int num_kv_heads = 0;     // Hkv
  int ffn_dim = 0;          // F (proj_1 has 2F rows with GLU, F without)
  double ffn_multiplier = 0;
};

struct TextConfig {  // OpenELM decoder
  int vocab_size = 32000;          // V
  int max_context_length = 2048;
  int num_transformer_layers = 12;
  int model_dim = 2048;            // D
  int head_dim = 128;              // Dh
  int num_gqa_groups = 1;          // query heads per KV head
  int ffn_dim_divisor = 256;
  bool ffn_with_glu = true;
  bool normalize_qk_projections = false;
  bool share_input_output_layers = false;  // tied output head
  std::string activation_fn_name = "swish";
  std::string normalization_layer_name = "rms_norm";
  double rope_freq_constant = 10000;
  int rope_max_length = 4096;
  int bos_token_id = 1;
  int eos_token_id = 2;
  std::vector<TextLayerConfig> layers;  // derived, one per transformer layer

  int qkv_rows(int l) const { return (layers[l].num_query_heads + 2 * layers[l].num_kv_heads) * head_dim; }
  int kv_dim_total() const;  // Σ_l Hkv_l·Dh: K (or V) values cached per token over all layers
};

struct VlmConfig {
  TextConfig text;
  VisionConfig vision;
  std::string connector_type;                       // only "mlp2x_gelu"
  int vision_feature_layer = -2;                    // index into hidden_states (negative from the end)
  std::string vision_feature_select_strategy = "patch";  // "patch" drops token 0, "cls_patch" keeps all
  std::string image_aspect_ratio = "square";        // "square" or "pad"
  int pad_token_id = -1;                            // -1 when null
  int tokenizer_model_max_length = 2048;
  // quantization_config.format of a checkpoint written by `tinyllava quantize` ("q8" or "q4"; empty
  // for float checkpoints). Its Linear weights may then be stored as codes and scales (tensor/quant.h).
  std::string quant_format;

  // Number of SigLIP encoder layers needed to produce hidden_states[vision_feature_layer].
  int vision_layers_used() const;
  // Image rows spliced into the prompt (728 for the real model).
  int image_tokens() const;
};

// Parses and validates a config.json document; `source` names the file in errors.
VlmConfig parse_config(const json::Value& root, const std::string& source);
VlmConfig load_config(const std::string& path);

// OpenELM's helpers, exposed for tests: make_divisible as in configuration_openelm.py, and
// numpy.linspace(a, b, n) followed by Python round(v, 2).
int make_divisible(double v, int divisor);
std::vector<double> linspace_round2(double a, double b, int n);

}  // namespace tl
