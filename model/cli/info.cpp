// model/cli/info.cpp — `tinyllava info -m DIR`: validate a checkpoint and describe it.
//
// Everything printed is read from the files (config.json, the safetensors headers) after the same
// validation `run` performs, so a checkpoint `info` accepts is one the engine can load.
#include <cstdio>
#include <map>
#include <string>

#include "model/cli/args.h"
#include "model/cli/commands.h"
#include "weights/layout.h"
#include "weights/loader.h"

namespace tl::cli {

namespace {

std::string human(double v, const char* unit) {
  const char* prefixes[] = {"", " k", " M", " G", " T"};
  int i = 0;
  while (v >= 1000 && i < 4) {
    v /= 1000;
    ++i;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f%s%s", v, prefixes[i], unit);
  return buf;
}

// Parameters of the tensors in v: their shapes in the layout (a quantized weight's codes hold two per
// byte or padding; its scales are not parameters).
int64_t params_of(const std::vector<const TensorEntry*>& v, const std::map<std::string, int64_t>& logical) {
  int64_t n = 0;
  for (const TensorEntry* e : v) {
    const auto it = logical.find(e->name);
    n += it != logical.end() ? it->second : 0;
  }
  return n;
}

void print_vision(const VlmConfig& c) {
  const VisionConfig& v = c.vision;
  std::printf("vision       SigLIP: D=%d F=%d H=%d Dh=%d, %d encoder layers (%d used for hidden_states[%d]), %s\n",
              v.hidden_size, v.intermediate_size, v.num_attention_heads, v.head_dim(), v.num_hidden_layers,
              c.vision_layers_used(), c.vision_feature_layer, v.hidden_act.c_str());
  std::printf("image        %dx%d RGB, patch %d -> %dx%d = %d patches; '%s' selection -> %d image tokens; aspect '%s'\n",
              v.image_size, v.image_size, v.patch_size, v.grid(), v.grid(), v.num_patches(),
              c.vision_feature_select_strategy.c_str(), c.image_tokens(), c.image_aspect_ratio.c_str());
  std::printf("connector    %s: %d -> %d -> %d (GELU, erf)\n", c.connector_type.c_str(), v.hidden_size,
              c.text.model_dim, c.text.model_dim);
}

void print_text(const VlmConfig& c, const LoadedModel& m) {
  const TextConfig& t = c.text;
  std::printf("text         OpenELM: D=%d V=%d Dh=%d, %d layers, GQA groups %d, context %d, RoPE base %g, %s%s%s\n",
              t.model_dim, t.vocab_size, t.head_dim, t.num_transformer_layers, t.num_gqa_groups,
              t.max_context_length, t.rope_freq_constant, t.share_input_output_layers ? "tied output head" : "separate lm_head",
              t.normalize_qk_projections ? ", q/k RMSNorm" : "", t.ffn_with_glu ? ", SiLU-GLU FFN" : ", SiLU FFN");
  std::printf("KV cache     %d values per token per K and V (%.1f KiB/token in f32, %.1f MiB for %d tokens)\n",
              t.kv_dim_total(), 2.0 * 4 * t.kv_dim_total() / 1024,
              2.0 * 4 * t.kv_dim_total() * t.max_context_length / (1 << 20), t.max_context_length);
  std::printf("\n%5s %4s %4s %5s %5s  %-14s %-14s %-14s %-14s\n", "layer", "H", "Hkv", "F", "mult", "qkv_proj",
              "out_proj", "proj_1", "proj_2");
  for (int l = 0; l < t.num_transformer_layers; ++l) {
    const TextLayerConfig& y = t.layers[l];
    const OpenElmLayerWeights& w = m.weights.text.layers[l];
    std::printf("%5d %4d %4d %5d %5.2f  %-14s %-14s %-14s %-14s\n", l, y.num_query_heads, y.num_kv_heads, y.ffn_dim,
                y.ffn_multiplier, shape_str(w.qkv).c_str(), shape_str(w.out_proj).c_str(),
                shape_str(w.proj_1).c_str(), shape_str(w.proj_2).c_str());
  }
  std::printf("\n");
}

}  // namespace

int cmd_info(int argc, char** argv) {
  Args args("info", "Validate a checkpoint directory (config.json + safetensors) and describe it.",
            {{"-m", "--model", "DIR", "checkpoint directory"}});
  if (!args.parse(argc, argv, 2)) return 0;
  LoadedModel m = load_model(args.required("--model"));
  const VlmConfig& c = m.config;

  std::printf("checkpoint   %s\n", m.dir.c_str());
  for (const std::string& f : m.checkpoint->files()) std::printf("file         %s\n", f.c_str());
  std::printf("architecture TinyLLaVA: SigLIP vision tower -> %s connector -> OpenELM decoder\n", c.connector_type.c_str());
  print_vision(c);
  print_text(c, m);

  std::map<std::string, int> dtypes;
  uint64_t data_bytes = 0;
  for (const TensorEntry* e : m.checkpoint->tensors()) {
    dtypes[dtype_name(e->dtype)]++;
    data_bytes += e->nbytes;
  }
  const auto& all = m.checkpoint->tensors();
  std::map<std::string, int64_t> logical;
  for (const TensorSpec& spec : checkpoint_layout(c)) logical[spec.name] = checked_numel(spec.shape, spec.name.c_str());
  int64_t params = params_of(all, logical), unused_params = params_of(m.unused, logical);
  std::printf("tensors      %zu (%zu used, %zu unused)\n", all.size(), m.used.size(), m.unused.size());
  std::printf("parameters   %lld (%s; %lld used, %lld unused)\n", static_cast<long long>(params), human(params, "").c_str(),
              static_cast<long long>(params - unused_params), static_cast<long long>(unused_params));
  std::printf("dtypes      ");
  for (const auto& d : dtypes) std::printf(" %s: %d", d.first.c_str(), d.second);
  std::printf("\n");
  if (!c.quant_format.empty())
    std::printf("quantized    %s (groups of 32, F16 scales): %d Linear weights Q8 (I8 codes), %d Q4 (U8 codes)\n",
                c.quant_format.c_str(), dtypes.count("I8") ? dtypes["I8"] : 0, dtypes.count("U8") ? dtypes["U8"] : 0);
  std::printf("bytes        %llu tensor data (%s), %llu on disk, %llu read by the forward pass\n",
              static_cast<unsigned long long>(data_bytes), human(static_cast<double>(data_bytes), "B").c_str(),
              static_cast<unsigned long long>(m.checkpoint->total_bytes()),
              static_cast<unsigned long long>(m.used_bytes()));
  if (!m.unused.empty()) {
    std::printf("unused       %zu tensors the output never reads (left on disk):\n", m.unused.size());
    for (const TensorEntry* e : m.unused)
      std::printf("  %-84s %-14s %s\n", e->name.c_str(), shape_str(e->shape).c_str(), dtype_name(e->dtype));
  }
  return 0;
}

}  // namespace tl::cli
