// weights/config.cpp — config.json -> VlmConfig (contract in config.h).
#include "weights/config.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tensor/error.h"
#include "weights/file.h"

namespace tl {

int TextConfig::kv_dim_total() const {
  int n = 0;
  for (const TextLayerConfig& l : layers) n += l.num_kv_heads * head_dim;
  return n;
}

int VlmConfig::vision_layers_used() const {
  int L = vision.num_hidden_layers;
  return vision_feature_layer < 0 ? L + 1 + vision_feature_layer : vision_feature_layer;
}

int VlmConfig::image_tokens() const {
  return vision_feature_select_strategy == "patch" ? vision.num_patches() - 1 : vision.num_patches();
}

int make_divisible(double v, int divisor) {
  // configuration_openelm.py: max(divisor, int(v + divisor / 2) // divisor * divisor), plus one more
  // divisor if rounding down lost more than 10%.
  long long n = static_cast<long long>(v + divisor / 2.0) / divisor * divisor;
  if (n < divisor) n = divisor;
  if (n < 0.9 * v) n += divisor;
  return static_cast<int>(n);
}

static double python_round2(double v) {
  // Python's round(v, 2) is correctly rounded from the exact binary value, ties to even — which is
  // what glibc's printf does too.
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return std::strtod(buf, nullptr);
}

std::vector<double> linspace_round2(double a, double b, int n) {
  std::vector<double> out;
  if (n == 1) return {python_round2(a)};
  double step = (b - a) / (n - 1);  // numpy: y = arange(n) * step + start; y[-1] = stop
  for (int i = 0; i < n; ++i) out.push_back(python_round2(i == n - 1 ? b : i * step + a));
  return out;
}

namespace {

// Typed access to the fields of one JSON object, with errors naming "<file>: <prefix><field>".
class Fields {
 public:
  Fields(const json::Value* obj, const std::string& source, const std::string& prefix)
      : obj_(obj), source_(source), prefix_(prefix) {}

  std::string name(const char* key) const { return source_ + ": " + prefix_ + key; }
  const json::Value* get(const char* key) const {
    const json::Value* v = obj_ ? obj_->find(key) : nullptr;
    return v && !v->is_null() ? v : nullptr;
  }
  [[noreturn]] void bad(const char* key, const char* expected, const json::Value& v) const {
    fail_input("%s: expected %s, got %s", name(key).c_str(), expected, describe(v).c_str());
  }

  int integer(const char* key, int def) const {
    const json::Value* v = get(key);
    if (!v) return def;
    if (!v->is_integer() || v->as_int() < INT32_MIN || v->as_int() > INT32_MAX) bad(key, "an integer", *v);
    return static_cast<int>(v->as_int());
  }
  // A positive integer no larger than `max` (bounds keep every derived size far from overflow).
  int positive(const char* key, int def, int max) const {
    int x = integer(key, def);
    if (x <= 0 || x > max) fail_input("%s: expected a positive integer at most %d, got %d", name(key).c_str(), max, x);
    return x;
  }
  double number(const char* key, double def) const {
    const json::Value* v = get(key);
    if (!v) return def;
    if (!v->is_number()) bad(key, "a number", *v);
    return v->as_number();
  }
  bool boolean(const char* key, bool def) const {
    const json::Value* v = get(key);
    if (!v) return def;
    if (!v->is_bool()) bad(key, "true or false", *v);
    return v->as_bool();
  }
  std::string string(const char* key, const std::string& def) const {
    const json::Value* v = get(key);
    if (!v) return def;
    if (!v->is_string()) bad(key, "a string", *v);
    return v->as_string();
  }
  std::string one_of(const char* key, const std::string& def, std::initializer_list<const char*> allowed) const {
    std::string s = string(key, def);
    std::string list;
    for (const char* a : allowed) {
      if (s == a) return s;
      list += list.empty() ? a : std::string(" or ") + a;
    }
    fail_input("%s: unsupported value \"%s\" (expected %s)", name(key).c_str(), s.c_str(), list.c_str());
  }

  static std::string describe(const json::Value& v) {
    if (v.is_string()) return "\"" + v.as_string() + "\"";
    if (v.is_number()) return json::dump(v);
    if (v.is_bool()) return v.as_bool() ? "true" : "false";
    return json::type_name(v.type());
  }

 private:
  const json::Value* obj_;
  std::string source_;
  std::string prefix_;
};

// A number, or a list of numbers, as OpenELM's multipliers are given.
std::vector<double> number_list(const Fields& f, const char* key, double def) {
  const json::Value* v = f.get(key);
  if (!v) return {def};
  if (v->is_number()) return {v->as_number()};
  if (!v->is_array() || v->items().empty()) f.bad(key, "a number or a list of numbers", *v);
  std::vector<double> out;
  for (const json::Value& x : v->items()) {
    if (!x.is_number()) f.bad(key, "a list of numbers", x);
    out.push_back(x.as_number());
  }
  return out;
}

// model_type, when present, must be `type` (the only architecture of its part this engine runs).
void expect_model_type(const Fields& f, const char* type, const char* what) {
  const std::string got = f.string("model_type", type);
  if (got != type)
    fail_input("%s: unsupported %s \"%s\" (expected %s)", f.name("model_type").c_str(), what, got.c_str(), type);
}

VisionConfig parse_vision(const Fields& f) {
  VisionConfig c;
  expect_model_type(f, "siglip_vision_model", "vision tower");
  c.hidden_size = f.positive("hidden_size", c.hidden_size, 1 << 16);
  c.intermediate_size = f.positive("intermediate_size", c.intermediate_size, 1 << 18);
  c.num_hidden_layers = f.positive("num_hidden_layers", c.num_hidden_layers, 1024);
  c.num_attention_heads = f.positive("num_attention_heads", c.num_attention_heads, 1 << 16);
  c.num_channels = f.positive("num_channels", c.num_channels, 64);
  c.image_size = f.positive("image_size", c.image_size, 16384);
  c.patch_size = f.positive("patch_size", c.patch_size, 16384);
  c.layer_norm_eps = static_cast<float>(f.number("layer_norm_eps", c.layer_norm_eps));
  c.hidden_act = f.one_of("hidden_act", c.hidden_act, {"gelu_pytorch_tanh"});
  if (c.hidden_size % c.num_attention_heads != 0)
    fail_input("%s: hidden_size %d is not divisible by num_attention_heads %d", f.name("hidden_size").c_str(),
               c.hidden_size, c.num_attention_heads);
  if (c.num_channels != 3)
    fail_input("%s: expected 3 (RGB images), got %d", f.name("num_channels").c_str(), c.num_channels);
  if (c.patch_size > c.image_size)
    fail_input("%s: patch_size %d is larger than image_size %d", f.name("patch_size").c_str(), c.patch_size, c.image_size);
  if (!(c.layer_norm_eps > 0)) fail_input("%s: expected a positive number", f.name("layer_norm_eps").c_str());
  return c;
}

// OpenELMConfig.__post_init__: per-layer query heads from qkv_multipliers, KV heads by GQA groups,
// FFN multipliers expanded per layer; then the FFN width of OpenELMFeedForwardNetwork.
void derive_text_layers(TextConfig& c, const Fields& f) {
  const int L = c.num_transformer_layers;
  std::vector<double> qkv = number_list(f, "qkv_multipliers", 1.0);
  if (qkv.size() == 2) qkv = linspace_round2(qkv[0], qkv[1], L);
  else if (qkv.size() == 1) qkv.assign(L, qkv[0]);
  else fail_input("%s: expected a number or a list of exactly 2 numbers, got a list of %zu", f.name("qkv_multipliers").c_str(), qkv.size());

  std::vector<double> ffn = number_list(f, "ffn_multipliers", 4.0);
  if (ffn.size() == 1) ffn.assign(L, ffn[0]);
  else if (ffn.size() == 2) ffn = linspace_round2(ffn[0], ffn[1], L);
  else if (static_cast<int>(ffn.size()) != L)
    fail_input("%s: list of %zu values (expected 1, 2 or num_transformer_layers = %d)", f.name("ffn_multipliers").c_str(), ffn.size(), L);

  c.layers.resize(L);
  for (int l = 0; l < L; ++l) {
    TextLayerConfig& y = c.layers[l];
    // Width limits keep (H + 2·Hkv)·Dh and 2F far inside an int.
    if (!(qkv[l] > 0) || !(ffn[l] > 0) || qkv[l] * c.model_dim > (1 << 20) || ffn[l] * c.model_dim > (1 << 20))
      fail_input("%s: layer %d: multiplier gives a width outside (0, 1048576]", f.name("qkv_multipliers").c_str(), l);
    int q_dim = make_divisible(c.model_dim * qkv[l], c.head_dim * c.num_gqa_groups);
    y.num_query_heads = q_dim / c.head_dim;
    y.num_kv_heads = y.num_query_heads / c.num_gqa_groups;
    y.ffn_multiplier = ffn[l];
    y.ffn_dim = make_divisible(ffn[l] * c.model_dim, c.ffn_dim_divisor);
  }

  // The file's own per-layer lists are overwritten by OpenELM; refuse them if they disagree.
  auto check_list = [&](const char* key, int TextLayerConfig::*field) {
    const json::Value* v = f.get(key);
    if (!v) return;
    if (!v->is_array()) f.bad(key, "a list of integers", *v);
    if (static_cast<int>(v->items().size()) != L)
      fail_input("%s: list of %zu values (expected num_transformer_layers = %d)", f.name(key).c_str(), v->items().size(), L);
    for (int l = 0; l < L; ++l) {
      const json::Value& x = v->items()[l];
      if (!x.is_integer() || x.as_int() != c.layers[l].*field)
        fail_input("%s[%d]: %s disagrees with qkv_multipliers/num_gqa_groups (expected %d)", f.name(key).c_str(), l,
                   Fields::describe(x).c_str(), c.layers[l].*field);
    }
  };
  check_list("num_query_heads", &TextLayerConfig::num_query_heads);
  check_list("num_kv_heads", &TextLayerConfig::num_kv_heads);
}

TextConfig parse_text(const Fields& f) {
  TextConfig c;
  expect_model_type(f, "openelm", "language model");
  c.vocab_size = f.positive("vocab_size", c.vocab_size, 1 << 24);
  c.max_context_length = f.positive("max_context_length", c.max_context_length, 1 << 20);
  c.num_transformer_layers = f.positive("num_transformer_layers", c.num_transformer_layers, 1024);
  c.model_dim = f.positive("model_dim", c.model_dim, 1 << 16);
  c.head_dim = f.positive("head_dim", c.head_dim, 4096);
  c.num_gqa_groups = f.positive("num_gqa_groups", c.num_gqa_groups, 1 << 12);
  c.ffn_dim_divisor = f.positive("ffn_dim_divisor", c.ffn_dim_divisor, 1 << 16);
  c.ffn_with_glu = f.boolean("ffn_with_glu", c.ffn_with_glu);
  c.normalize_qk_projections = f.boolean("normalize_qk_projections", c.normalize_qk_projections);
  c.share_input_output_layers = f.boolean("share_input_output_layers", c.share_input_output_layers);
  c.activation_fn_name = f.one_of("activation_fn_name", c.activation_fn_name, {"swish", "silu"});
  c.normalization_layer_name = f.one_of("normalization_layer_name", c.normalization_layer_name, {"rms_norm"});
  c.rope_freq_constant = f.number("rope_freq_constant", c.rope_freq_constant);
  c.rope_max_length = f.positive("rope_max_length", c.rope_max_length, 1 << 24);
  c.bos_token_id = f.integer("bos_token_id", c.bos_token_id);
  c.eos_token_id = f.integer("eos_token_id", c.eos_token_id);
  if (c.head_dim % 2) fail_input("%s: expected an even head dimension for RoPE, got %d", f.name("head_dim").c_str(), c.head_dim);
  if (!(c.rope_freq_constant > 0)) fail_input("%s: expected a positive number", f.name("rope_freq_constant").c_str());
  derive_text_layers(c, f);
  return c;
}

// quantization_config as `tinyllava quantize` writes it (README "Quantized checkpoints"):
// {"quant_method": "tinyllava", "format": "q8" | "q4", "group_size": 32, "scale_dtype": "F16"}.
std::string parse_quantization(const json::Value& q, const std::string& source) {
  if (!q.is_object())
    fail_input("%s: quantization_config: expected an object, got %s", source.c_str(), json::type_name(q.type()));
  Fields f(&q, source, "quantization_config.");
  f.one_of("quant_method", "", {"tinyllava"});
  const std::string format = f.one_of("format", "", {"q8", "q4"});
  const int group = f.integer("group_size", 32);
  if (group != 32) fail_input("%s: %d is not supported (expected 32)", f.name("group_size").c_str(), group);
  f.one_of("scale_dtype", "F16", {"F16"});
  return format;
}

}  // namespace

VlmConfig parse_config(const json::Value& root, const std::string& source) {
  if (!root.is_object()) fail_input("%s: expected a JSON object, got %s", source.c_str(), json::type_name(root.type()));
  Fields top(&root, source, "");
  VlmConfig c;
  expect_model_type(top, "tinyllava", "model");

  const json::Value* text = root.find("text_config");
  const json::Value* vision = root.find("vision_config");
  if (!text || !text->is_object()) fail_input("%s: missing or not an object (expected the OpenELM config)", top.name("text_config").c_str());
  if (!vision || !vision->is_object()) fail_input("%s: missing or not an object (expected the SigLIP config)", top.name("vision_config").c_str());
  c.text = parse_text(Fields(text, source, "text_config."));
  c.vision = parse_vision(Fields(vision, source, "vision_config."));

  c.connector_type = top.one_of("connector_type", "", {"mlp2x_gelu"});
  c.vision_feature_select_strategy = top.one_of("vision_feature_select_strategy", c.vision_feature_select_strategy, {"patch", "cls_patch"});
  c.image_aspect_ratio = top.one_of("image_aspect_ratio", c.image_aspect_ratio, {"square", "pad"});
  c.vision_feature_layer = top.integer("vision_feature_layer", c.vision_feature_layer);
  c.pad_token_id = top.integer("pad_token_id", c.pad_token_id);
  c.tokenizer_model_max_length = top.positive("tokenizer_model_max_length", c.tokenizer_model_max_length, 1 << 24);

  if (const json::Value* q = root.find("quantization_config")) c.quant_format = parse_quantization(*q, source);

  int L = c.vision.num_hidden_layers;
  if (c.vision_feature_layer < -(L + 1) || c.vision_feature_layer > L)
    fail_input("%s: %d is outside hidden_states[0..%d]", top.name("vision_feature_layer").c_str(), c.vision_feature_layer, L);
  if (c.image_tokens() < 1)
    fail_input("%s: the image grid has %d patch(es), none left after the 'patch' strategy drops token 0",
               top.name("vision_config").c_str(), c.vision.num_patches());
  // TinyLlavaConfig derives these from the sub-configs; a file that says otherwise is inconsistent.
  auto must_equal = [&](const char* key, int derived, const char* from) {
    int v = top.integer(key, derived);
    if (v != derived) fail_input("%s: %d disagrees with %s (expected %d)", top.name(key).c_str(), v, from, derived);
  };
  must_equal("hidden_size", c.text.model_dim, "text_config.model_dim");
  must_equal("vision_hidden_size", c.vision.hidden_size, "vision_config.hidden_size");
  must_equal("vocab_size", c.text.vocab_size, "text_config.vocab_size");
  return c;
}

VlmConfig load_config(const std::string& path) {
  std::string text = read_file(path, 16u << 20);
  return parse_config(json::parse(text, path), path);
}

}  // namespace tl
