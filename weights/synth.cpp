// weights/synth.cpp — write random-weight checkpoints (contract in synth.h).
#include "weights/synth.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "weights/config.h"
#include "tensor/error.h"
#include "weights/file.h"
#include "weights/json.h"
#include "weights/layout.h"
#include "weights/safetensors.h"

namespace tl {

// The real model's config.json (jiajunlong/TinyLLaVA-OpenELM-450M-SigLIP-0.89B, MODEL_SPEC §2).
static const char kFullConfig[] = R"({
  "architectures": ["TinyLlavaForConditionalGeneration"],
  "cache_dir": null,
  "connector_type": "mlp2x_gelu",
  "hidden_size": 1536,
  "ignore_index": -100,
  "image_aspect_ratio": "square",
  "image_token_index": -200,
  "llm_model_name_or_path": "apple/OpenELM-450M-Instruct",
  "model_type": "tinyllava",
  "num_queries": 128,
  "num_resampler_layers": 3,
  "pad_token": "<unk>",
  "pad_token_id": 0,
  "resampler_hidden_size": 768,
  "text_config": {
    "_name_or_path": "apple/OpenELM-450M-Instruct",
    "activation_fn_name": "swish",
    "architectures": ["OpenELMForCausalLM"],
    "ffn_dim_divisor": 256,
    "ffn_multipliers": [0.5, 0.68, 0.87, 1.05, 1.24, 1.42, 1.61, 1.79, 1.97, 2.16,
                        2.34, 2.53, 2.71, 2.89, 3.08, 3.26, 3.45, 3.63, 3.82, 4.0],
    "ffn_with_glu": true,
    "head_dim": 64,
    "max_context_length": 2048,
    "model_dim": 1536,
    "model_type": "openelm",
    "normalization_layer_name": "rms_norm",
    "normalize_qk_projections": true,
    "num_gqa_groups": 4,
    "num_kv_heads": [3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 6, 6, 6, 6],
    "num_query_heads": [12, 12, 12, 16, 16, 16, 16, 16, 16, 16, 20, 20, 20, 20, 20, 20, 24, 24, 24, 24],
    "num_transformer_layers": 20,
    "qkv_multipliers": [0.5, 1.0],
    "rope_freq_constant": 10000,
    "rope_max_length": 4096,
    "share_input_output_layers": true,
    "tie_word_embeddings": true,
    "torch_dtype": "float16"
  },
  "tokenizer_model_max_length": 2048,
  "tokenizer_name_or_path": "meta-llama/Llama-2-7b-hf",
  "tokenizer_padding_side": "right",
  "tokenizer_use_fast": false,
  "torch_dtype": "float16",
  "transformers_version": "4.39.3",
  "tune_type_connector": "full",
  "tune_type_llm": "full",
  "tune_type_vision_tower": "frozen",
  "tune_vision_tower_from_layer": 0,
  "use_cache": true,
  "vision_config": {
    "hidden_act": "gelu_pytorch_tanh",
    "hidden_size": 1152,
    "image_size": 384,
    "intermediate_size": 4304,
    "layer_norm_eps": 1e-06,
    "model_name_or_path": "google/siglip-so400m-patch14-384",
    "model_name_or_path2": "",
    "model_type": "siglip_vision_model",
    "num_attention_heads": 16,
    "num_hidden_layers": 27,
    "patch_size": 14
  },
  "vision_feature_layer": -2,
  "vision_feature_select_strategy": "patch",
  "vision_hidden_size": 1152,
  "vision_model_name_or_path": "google/siglip-so400m-patch14-384",
  "vision_model_name_or_path2": "",
  "vocab_size": 32000
}
)";

// A small model with the real structure and vocabulary: uneven per-layer heads (2,4,4,4 query heads),
// GQA, per-layer FFN widths, a 64-pixel image whose border the 14-pixel patches do not cover (4×4 grid).
static const char kTinyConfig[] = R"({
  "architectures": ["TinyLlavaForConditionalGeneration"],
  "connector_type": "mlp2x_gelu",
  "hidden_size": 128,
  "image_aspect_ratio": "square",
  "image_token_index": -200,
  "model_type": "tinyllava",
  "pad_token_id": 0,
  "text_config": {
    "activation_fn_name": "swish",
    "ffn_dim_divisor": 64,
    "ffn_multipliers": [0.5, 2.0],
    "ffn_with_glu": true,
    "head_dim": 32,
    "max_context_length": 2048,
    "model_dim": 128,
    "model_type": "openelm",
    "normalization_layer_name": "rms_norm",
    "normalize_qk_projections": true,
    "num_gqa_groups": 2,
    "num_transformer_layers": 4,
    "qkv_multipliers": [0.5, 1.0],
    "rope_freq_constant": 10000,
    "rope_max_length": 4096,
    "share_input_output_layers": true
  },
  "tokenizer_model_max_length": 2048,
  "vision_config": {
    "hidden_act": "gelu_pytorch_tanh",
    "hidden_size": 64,
    "image_size": 64,
    "intermediate_size": 176,
    "layer_norm_eps": 1e-06,
    "model_type": "siglip_vision_model",
    "num_attention_heads": 4,
    "num_hidden_layers": 3,
    "patch_size": 14
  },
  "vision_feature_layer": -2,
  "vision_feature_select_strategy": "patch",
  "vision_hidden_size": 64,
  "vocab_size": 32000
}
)";

std::string builtin_config(const std::string& name) {
  if (name == "full") return kFullConfig;
  if (name == "tiny") return kTinyConfig;
  return "";
}

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// A standard normal from two counter-based hashes (Box-Muller, the cosine branch).
float normal_at(uint64_t key, uint64_t i) {
  const uint64_t a = splitmix64(key + 2 * i), b = splitmix64(key + 2 * i + 1);
  const float u1 = (static_cast<float>(a >> 40) + 1.0f) * (1.0f / 16777216.0f);  // (0, 1]
  const float u2 = static_cast<float>(b >> 40) * (1.0f / 16777216.0f);           // [0, 1)
  return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.28318530717958647692f * u2);
}

// A uniform [0, 1) from one hash.
float uniform_at(uint64_t key, uint64_t i) { return static_cast<float>(splitmix64(key ^ (i * 0x9e3779b97f4a7c15ull)) >> 40) * (1.0f / 16777216.0f); }

// The "trained" profile's factor for element (row r, column c) of a tensor (synth.h): heavy tails,
// row scales, outlier input columns; norm weights spread and a few large ones.
float trained_factor(uint64_t key, Init init, int64_t r, int64_t c, int64_t idx) {
  if (init == Init::NormWeight) return uniform_at(key ^ 0x5bd1e995ull, static_cast<uint64_t>(idx)) < 0.002f ? 15.0f : 1.0f;
  if (init != Init::Matrix) return 1.0f;
  float f = std::exp(0.3f * normal_at(key ^ 0x27d4eb2full, static_cast<uint64_t>(r)));          // row scale
  if (uniform_at(key ^ 0x165667b1ull, static_cast<uint64_t>(c)) < 0.005f) f *= 8.0f;              // outlier column
  if (uniform_at(key ^ 0x85ebca6bull, static_cast<uint64_t>(idx)) < 0.01f) f *= 4.0f;             // heavy tail
  return f;
}

// Elements [begin, begin + n) of a tensor with `cols` values per row: standard normals by Box-Muller
// on a counter-based stream (pair k = elements 2k, 2k+1 uses hashes of key + 2k and key + 2k + 1),
// scaled for the tensor's role, and shaped by the profile.
void fill_chunk(uint64_t key, Init init, SynthProfile profile, int64_t cols, int64_t begin, int64_t n, float* out) {
  const float kTwoPi = 6.28318530717958647692f;
  const float offset = init == Init::NormWeight ? 1.0f : 0.0f;
  for (int64_t idx = begin; idx < begin + n;) {
    uint64_t k = static_cast<uint64_t>(idx / 2);
    uint64_t a = splitmix64(key + 2 * k), b = splitmix64(key + 2 * k + 1);
    float u1 = (static_cast<float>(a >> 40) + 1.0f) * (1.0f / 16777216.0f);  // (0, 1]
    float u2 = static_cast<float>(b >> 40) * (1.0f / 16777216.0f);           // [0, 1)
    float r = std::sqrt(-2.0f * std::log(u1));
    float z[2] = {r * std::cos(kTwoPi * u2), r * std::sin(kTwoPi * u2)};
    for (int64_t j = idx & 1; j < 2 && idx < begin + n; ++j, ++idx) {
      float v = 0.02f * z[j];
      if (profile == SynthProfile::Trained) {
        if (init == Init::NormWeight) v = std::exp(0.5f * z[j]) - 1.0f;  // scales spread around 1
        v = (offset + v) * trained_factor(key, init, idx / cols, idx % cols, idx) - offset;
      }
      out[idx - begin] = offset + v;
    }
  }
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  f.close();
  if (!f) fail_input("%s: cannot write (%s)", path.c_str(), std::strerror(errno));
}

void make_directories(const std::string& dir) {
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i < dir.size() && dir[i] != '/') continue;
    std::string part = dir.substr(0, i);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST)
      fail_input("%s: cannot create directory (%s)", part.c_str(), std::strerror(errno));
  }
  if (!is_directory(dir)) fail_input("%s: exists and is not a directory", dir.c_str());
}

std::string generation_config(const VlmConfig& c) {
  json::Value g = json::Value::object();
  g.set("_from_model_config", json::Value::boolean(true));
  g.set("bos_token_id", json::Value::integer(c.text.bos_token_id));
  g.set("eos_token_id", json::Value::integer(c.text.eos_token_id));
  g.set("transformers_version", json::Value::string("4.39.3"));
  g.set("use_cache", json::Value::boolean(false));
  return json::dump(g, 2) + "\n";
}

}  // namespace

namespace {

SynthReport write_checkpoint(const std::string& out_dir, const SynthOptions& opt) {
  std::string config_text = builtin_config(opt.config);
  std::string config_source = "--config " + opt.config;
  if (config_text.empty()) {
    config_text = read_file(opt.config, 16u << 20);
    config_source = opt.config;
  }
  VlmConfig config = parse_config(json::parse(config_text, config_source), config_source);
  if (opt.dtype == DType::I8) fail_input("--dtype: i8 checkpoints are not supported (expected f16, bf16 or f32)");

  make_directories(out_dir);
  write_text_file(join_path(out_dir, "config.json"), config_text);
  write_text_file(join_path(out_dir, "generation_config.json"), generation_config(config));
  if (!opt.tokenizer.empty())
    write_text_file(join_path(out_dir, "tokenizer.model"), read_file(opt.tokenizer, 64u << 20));

  std::vector<TensorSpec> layout = checkpoint_layout(config);
  std::vector<SafetensorsWriter::Spec> specs;
  SynthReport report;
  for (const TensorSpec& s : layout) {
    specs.push_back({s.name, opt.dtype, s.shape});
    report.parameters += checked_numel(s.shape, s.name.c_str());
  }
  report.tensors = static_cast<int64_t>(specs.size());
  const std::string path = join_path(out_dir, "model.safetensors");
  SafetensorsWriter writer(path, specs, {{"format", "pt"}});
  if (opt.sparse) {
    writer.finish_sparse();
  } else {
    // Chunks of one tensor are generated in parallel (one per thread), then written in order.
    const int64_t kChunk = 1 << 20;
    int threads = opt.threads > 0 ? opt.threads : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::vector<float>> f32(threads, std::vector<float>(kChunk));
    std::vector<std::vector<uint8_t>> bytes(threads, std::vector<uint8_t>(kChunk * dtype_size(opt.dtype)));
    for (const TensorSpec& s : layout) {
      const uint64_t key = splitmix64(opt.seed ^ fnv1a(s.name));
      const int64_t n = checked_numel(s.shape, s.name.c_str());
      const int64_t cols = s.shape.size() > 1 ? n / std::max<int64_t>(1, s.shape[0]) : std::max<int64_t>(1, n);
      for (int64_t base = 0; base < n; base += kChunk * threads) {
        std::vector<std::thread> pool;
        int used = 0;
        for (int t = 0; t < threads && base + t * kChunk < n; ++t, ++used) {
          pool.emplace_back([&, t] {
            int64_t begin = base + t * kChunk, len = std::min(kChunk, n - begin);
            fill_chunk(key, s.init, opt.profile, cols, begin, len, f32[t].data());
            convert_from_f32(f32[t].data(), bytes[t].data(), opt.dtype, static_cast<size_t>(len));
          });
        }
        for (std::thread& th : pool) th.join();
        for (int t = 0; t < used; ++t) {
          int64_t len = std::min(kChunk, n - (base + t * kChunk));
          writer.write(bytes[t].data(), static_cast<size_t>(len) * dtype_size(opt.dtype));
        }
      }
    }
    writer.finish();
  }
  struct stat st;
  report.bytes = ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  return report;
}

}  // namespace

SynthReport synth_checkpoint(const std::string& out_dir, const SynthOptions& opt) {
  SynthReport report;
  write_directory_in_place(out_dir, opt.force, [&](const std::string& staging) { report = write_checkpoint(staging, opt); });
  return report;
}

}  // namespace tl
