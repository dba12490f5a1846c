// tests/weights/test_config.cpp — config.json -> VlmConfig: the real config derives MODEL_SPEC §2.6
// exactly; defaults follow the original classes; unsupported or inconsistent values are refused with
// the field named.
#include <gtest/gtest.h>

#include <string>

#include "weights/config.h"
#include "tensor/error.h"
#include "weights/synth.h"
#include "test_util.h"

using namespace tl;

namespace {

VlmConfig parse(const std::string& text) { return parse_config(json::parse(text, "config.json"), "config.json"); }

std::string config_error(const std::string& text) { return test::input_error([&] { parse(text); }); }

// The tiny built-in config with one textual substitution.
std::string tiny_with(const std::string& from, const std::string& to) {
  std::string s = builtin_config("tiny");
  size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

const char kMinimal[] = R"({"connector_type": "mlp2x_gelu", "text_config": {}, "vision_config": {}})";

}  // namespace

TEST(Config, RealModelDerivesSpecTable) {
  VlmConfig c = parse(builtin_config("full"));
  const int q[] = {12, 12, 12, 16, 16, 16, 16, 16, 16, 16, 20, 20, 20, 20, 20, 20, 24, 24, 24, 24};
  const int F[] = {768, 1024, 1280, 1536, 1792, 2304, 2560, 2816, 3072, 3328,
                   3584, 3840, 4096, 4352, 4608, 5120, 5376, 5632, 5888, 6144};
  ASSERT_EQ(c.text.layers.size(), 20u);
  for (int l = 0; l < 20; ++l) {
    EXPECT_EQ(c.text.layers[l].num_query_heads, q[l]) << l;
    EXPECT_EQ(c.text.layers[l].num_kv_heads, q[l] / 4) << l;
    EXPECT_EQ(c.text.layers[l].ffn_dim, F[l]) << l;
  }
  EXPECT_EQ(c.text.qkv_rows(0), 1152);
  EXPECT_EQ(c.text.qkv_rows(19), 2304);
  EXPECT_EQ(c.text.kv_dim_total(), 64 * 91);  // 11 648 K+V values per token / 2
  EXPECT_EQ(c.vision.head_dim(), 72);
  EXPECT_EQ(c.vision.grid(), 27);
  EXPECT_EQ(c.vision.num_patches(), 729);
  EXPECT_EQ(c.vision_layers_used(), 26);
  EXPECT_EQ(c.image_tokens(), 728);
  EXPECT_TRUE(c.text.share_input_output_layers);
  EXPECT_TRUE(c.text.normalize_qk_projections);
  EXPECT_EQ(c.pad_token_id, 0);
}

TEST(Config, OpenElmHelpersMatchPython) {
  std::vector<double> m = linspace_round2(0.5, 1.0, 20);
  EXPECT_EQ(m[1], 0.53);
  EXPECT_EQ(m[10], 0.76);
  EXPECT_EQ(m[19], 1.0);
  EXPECT_EQ(linspace_round2(0.5, 2.0, 4), (std::vector<double>{0.5, 1.0, 1.5, 2.0}));
  EXPECT_EQ(linspace_round2(3.0, 9.0, 1), (std::vector<double>{3.0}));
  EXPECT_EQ(make_divisible(768, 256), 768);
  EXPECT_EQ(make_divisible(85.76, 64), 128);  // rounds down to 64, > 10% loss, so one more divisor
  EXPECT_EQ(make_divisible(10, 256), 256);    // never below the divisor
  EXPECT_EQ(make_divisible(0.68 * 1536, 256), 1024);
}

TEST(Config, TinyHasUnevenHeadsAndGqa) {
  VlmConfig c = parse(builtin_config("tiny"));
  ASSERT_EQ(c.text.layers.size(), 4u);
  EXPECT_EQ(c.text.layers[0].num_query_heads, 2);
  EXPECT_EQ(c.text.layers[1].num_query_heads, 4);
  EXPECT_EQ(c.text.layers[0].num_kv_heads, 1);
  EXPECT_EQ(c.text.layers[3].ffn_dim, 256);
  EXPECT_EQ(c.vision.grid(), 4);  // 64 px with 14 px patches: the last 8 px are not covered
  EXPECT_EQ(c.image_tokens(), 15);
}

TEST(Config, AbsentFieldsTakeTheOriginalDefaults) {
  VlmConfig c = parse(kMinimal);
  EXPECT_EQ(c.text.model_dim, 2048);
  EXPECT_EQ(c.text.num_transformer_layers, 12);
  EXPECT_EQ(c.text.head_dim, 128);
  EXPECT_EQ(c.text.layers[0].num_query_heads, 16);  // qkv_multipliers 1.0 -> 2048 / 128
  EXPECT_EQ(c.text.layers[0].ffn_dim, 8192);         // ffn_multipliers 4.0
  EXPECT_FALSE(c.text.share_input_output_layers);
  EXPECT_FALSE(c.text.normalize_qk_projections);
  EXPECT_EQ(c.vision.hidden_size, 768);
  EXPECT_EQ(c.vision.image_size, 224);
  EXPECT_EQ(c.vision.patch_size, 16);
  EXPECT_EQ(c.vision_feature_layer, -2);
  EXPECT_EQ(c.vision_feature_select_strategy, "patch");
  EXPECT_EQ(c.image_aspect_ratio, "square");
  EXPECT_EQ(c.pad_token_id, -1);
}

TEST(Config, UnsupportedValuesAreRefusedByField) {
  EXPECT_NE(config_error(tiny_with("\"mlp2x_gelu\"", "\"mlp3x_gelu\"")).find(
                "config.json: connector_type: unsupported value \"mlp3x_gelu\" (expected mlp2x_gelu)"),
            std::string::npos);
  EXPECT_NE(config_error(tiny_with("\"square\"", "\"anyres\"")).find(
                "image_aspect_ratio: unsupported value \"anyres\" (expected square or pad)"),
            std::string::npos);
  EXPECT_NE(config_error(tiny_with("\"gelu_pytorch_tanh\"", "\"quick_gelu\"")).find("vision_config.hidden_act"),
            std::string::npos);
  EXPECT_NE(config_error(tiny_with("\"rms_norm\"", "\"layer_norm\"")).find("text_config.normalization_layer_name"),
            std::string::npos);
  EXPECT_NE(config_error(tiny_with("\"siglip_vision_model\"", "\"clip_vision_model\"")).find("vision_config.model_type"),
            std::string::npos);
  EXPECT_NE(config_error(R"({"text_config": {}, "vision_config": {}})").find("connector_type"), std::string::npos);
  EXPECT_NE(config_error(R"({"connector_type": "mlp2x_gelu", "vision_config": {}})").find("text_config: missing"),
            std::string::npos);
}

TEST(Config, WrongTypesAndRangesAreRefusedByField) {
  EXPECT_NE(config_error(tiny_with("\"head_dim\": 32", "\"head_dim\": \"32\"")).find(
                "text_config.head_dim: expected an integer, got \"32\""),
            std::string::npos);
  EXPECT_NE(config_error(tiny_with("\"head_dim\": 32", "\"head_dim\": 31")).find("even head dimension"), std::string::npos);
  EXPECT_NE(config_error(tiny_with("\"model_dim\": 128", "\"model_dim\": 0")).find("text_config.model_dim: expected a positive integer"),
            std::string::npos);
  EXPECT_NE(config_error(tiny_with("\"num_attention_heads\": 4", "\"num_attention_heads\": 5")).find("not divisible"),
            std::string::npos);
  EXPECT_NE(config_error(tiny_with("\"vision_feature_layer\": -2", "\"vision_feature_layer\": -5")).find(
                "vision_feature_layer: -5 is outside hidden_states[0..3]"),
            std::string::npos);
  EXPECT_NE(config_error(tiny_with("\"hidden_size\": 128", "\"hidden_size\": 256")).find(
                "hidden_size: 256 disagrees with text_config.model_dim (expected 128)"),
            std::string::npos);
  EXPECT_NE(config_error(tiny_with("\"ffn_with_glu\": true", "\"ffn_with_glu\": 1")).find("expected true or false"),
            std::string::npos);
}

TEST(Config, PerLayerArraysMustFitTheLayerCount) {
  EXPECT_NE(config_error(tiny_with("\"ffn_multipliers\": [0.5, 2.0]", "\"ffn_multipliers\": [0.5, 1.0, 2.0]")).find(
                "text_config.ffn_multipliers: list of 3 values (expected 1, 2 or num_transformer_layers = 4)"),
            std::string::npos);
  EXPECT_NE(config_error(tiny_with("\"qkv_multipliers\": [0.5, 1.0]", "\"qkv_multipliers\": [0.5, 0.7, 1.0]")).find(
                "qkv_multipliers: expected a number or a list of exactly 2 numbers"),
            std::string::npos);
  EXPECT_NE(config_error(tiny_with("\"num_gqa_groups\": 2,", "\"num_gqa_groups\": 2, \"num_query_heads\": [2, 4, 4],")).find(
                "text_config.num_query_heads: list of 3 values (expected num_transformer_layers = 4)"),
            std::string::npos);
  EXPECT_NE(config_error(tiny_with("\"num_gqa_groups\": 2,", "\"num_gqa_groups\": 2, \"num_kv_heads\": [1, 2, 2, 3],")).find(
                "text_config.num_kv_heads[3]: 3 disagrees"),
            std::string::npos);
  // Lists that agree with the derivation are accepted.
  EXPECT_EQ(config_error(tiny_with("\"num_gqa_groups\": 2,", "\"num_gqa_groups\": 2, \"num_query_heads\": [2, 4, 4, 4],")), "");
}
