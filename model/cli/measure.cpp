// model/cli/measure.cpp — shared by bench and roofline (contract in measure.h).
#include "model/cli/measure.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "kernels/cpu/gemm_bf16.h"
#include "tensor/error.h"

namespace tl::cli {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

}  // namespace

ImageU8 synthetic_image() {
  ImageU8 im;
  im.width = 640;
  im.height = 480;
  im.rgb.resize(640 * 480 * 3);
  for (int y = 0; y < 480; ++y)
    for (int x = 0; x < 640; ++x) {
      uint8_t* p = &im.rgb[(y * 640 + x) * 3];
      p[0] = static_cast<uint8_t>(x * 255 / 639);
      p[1] = static_cast<uint8_t>(y * 255 / 479);
      p[2] = static_cast<uint8_t>(((x / 40 + y / 40) % 2) * 200);
    }
  return im;
}

double ReadProbe::gbs() const {
  return cpu::read_bandwidth(*buffer, kernels, threads, 1).gbs;
}

PhaseTimes time_pipeline(Engine& engine, const ImageU8& image, Request req, Trace& trace, const ReadProbe* probe) {
  PhaseTimes t;
  auto start = Clock::now();
  OwnedTensor pixels = preprocess_image(image, engine.config());
  t.preprocess_ms = ms_since(start);
  req.pixels = &pixels.tensor;
  req.reuse_image = false;  // every pass runs the vision tower
  // on_token(i) runs after token i is sampled and before the decode step that feeds it back, so the
  // steps between two calls are i − i₀; a probe ends one chunk and starts the next.
  const int last = req.generate.max_new_tokens - 1;
  double probe_ms = 0, read_before = 0;
  int64_t chunk_first = 0;
  Clock::time_point chunk_start;
  int i = 0;
  run(engine, req, trace, [&](int) {
    if (i == 0) t.ttft_ms = ms_since(start);
    if (probe && (i % probe->steps == 0 || i == last)) {
      const double seconds = ms_since(chunk_start) / 1e3;
      const auto p0 = Clock::now();
      const double read = probe->gbs();
      probe_ms += ms_since(p0);
      if (i > 0) t.chunks.push_back({chunk_first, static_cast<int>(i - chunk_first), seconds, (read_before + read) / 2});
      read_before = read;
      chunk_first = i;
      chunk_start = Clock::now();
    }
    ++i;
    return true;
  });
  t.vision_ms = trace.vision_s * 1e3;
  t.projector_ms = trace.projector_s * 1e3;
  t.prefill_ms = trace.prefill_s * 1e3;
  t.decode_ms = trace.decode_s * 1e3 - probe_ms;
  t.decode_tokens = static_cast<int>(trace.tokens.size());
  t.decode_tok_s = t.decode_tokens > 1 ? (t.decode_tokens - 1) / (t.decode_ms / 1e3) : 0.0;
  t.prompt_positions = trace.prompt_positions;
  return t;
}

Spread spread(std::vector<double> v) {
  TL_CHECK(!v.empty());
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v.front(), v.back()};
}

uint64_t text_weight_bytes(const LoadedModel& m) {
  uint64_t n = 0;
  for (const TensorEntry* e : m.used)
    if (e->name.rfind("language_model.", 0) == 0) n += e->nbytes;
  return n;
}

double kv_read_bytes_per_token(const TextConfig& c, int64_t prompt, int64_t tokens, int64_t elem) {
  const double mean_positions = static_cast<double>(prompt) + static_cast<double>(std::max<int64_t>(tokens - 1, 0)) / 2;
  return 2.0 * c.kv_dim_total() * static_cast<double>(elem) * mean_positions;
}

double chunk_pct_of_read(const DecodeChunk& k, double weight_bytes, const TextConfig& c, int64_t prompt, int64_t elem) {
  const double bytes = weight_bytes + kv_read_bytes_per_token(c, prompt + k.first_step + 1, k.steps, elem);
  return 100 * bytes * k.steps / k.seconds / 1e9 / k.read_gbs;
}

double gemm_flops(int64_t M, int64_t N, int64_t K) { return 2.0 * M * N * K; }

double attention_flops(int64_t T, int64_t S, int64_t H, int64_t Dh, int64_t causal_offset) {
  double pairs = 0;
  if (causal_offset < 0) pairs = static_cast<double>(T) * S;
  else
    for (int64_t t = 0; t < T; ++t) pairs += static_cast<double>(std::min(S, t + causal_offset + 1));
  return 4.0 * Dh * H * pairs;
}

double vision_flops(const VlmConfig& c) {
  const VisionConfig& v = c.vision;
  const int64_t P = v.num_patches(), D = v.hidden_size, F = v.intermediate_size;
  const double layer = 4 * gemm_flops(P, D, D) + gemm_flops(P, F, D) + gemm_flops(P, D, F) +
                       attention_flops(P, P, v.num_attention_heads, v.head_dim(), ops::kNonCausal);
  return gemm_flops(P, D, int64_t{v.num_channels} * v.patch_size * v.patch_size) + c.vision_layers_used() * layer;
}

double projector_flops(const VlmConfig& c) {
  const int64_t N = c.image_tokens(), D = c.text.model_dim;
  return gemm_flops(N, D, c.vision.hidden_size) + gemm_flops(N, D, D);
}

double prefill_flops(const VlmConfig& c, int64_t T) {
  const TextConfig& t = c.text;
  const int64_t D = t.model_dim, Dh = t.head_dim;
  double f = gemm_flops(1, t.vocab_size, D);  // the head, at the last position only
  for (size_t l = 0; l < t.layers.size(); ++l) {
    const TextLayerConfig& L = t.layers[l];
    const int64_t F = L.ffn_dim;
    f += gemm_flops(T, t.qkv_rows(static_cast<int>(l)), D) + gemm_flops(T, D, int64_t{L.num_query_heads} * Dh);
    f += gemm_flops(T, t.ffn_with_glu ? 2 * F : F, D) + gemm_flops(T, D, F);
    f += attention_flops(T, T, L.num_query_heads, Dh, 0);
  }
  return f;
}

MatrixPeak matrix_peak(const cpu::Ceilings& c, const ops::Context& k) {
  const ops::Precision p = k.precision();
  if (p == ops::Precision::BF16 && k.cpu().bf16_kernel == cpu::Bf16Kernel::Amx && c.amx_bf16.present())
    return {"AMX bf16", c.amx_bf16.all};
  if (p == ops::Precision::BF16 && c.bf16_dot.present()) return {"bf16 dot", c.bf16_dot.all};
  return {"fp32 FMA", c.fp32_fma.all};
}

std::string peaks_text(const cpu::Ceilings& c, bool single_thread) {
  auto one = [&](const char* name, const cpu::ComputePeak& p, const char* unit) {
    if (!p.present()) return std::string(name) + " absent";
    return strfmt("%s %.0f %s (%s)", name, single_thread ? p.single : p.all, unit, p.isa.c_str());
  };
  return one("fp32 FMA", c.fp32_fma, "GFLOP/s") + ", " + one("bf16 dot", c.bf16_dot, "GFLOP/s") + ", " +
         one("int8 dot", c.int8_dot, "GOP/s") + ", " + one("AMX bf16", c.amx_bf16, "GFLOP/s");
}

std::string cap_text(const cpu::Ceilings& c) {
  return c.cap == cpu::IsaCap::Auto ? "" : strfmt(", ceilings under --isa %s", cpu::isa_cap_name(c.cap));
}

void add_ceilings_json(json::Value& obj, const cpu::Ceilings& c) {
  obj.set("cpu", json::Value::string(c.cpu));
  obj.set("isa_cap", json::Value::string(cpu::isa_cap_name(c.cap)));
  obj.set("read_buffer_bytes", json::Value::integer(static_cast<int64_t>(c.read_buffer_bytes)));
  obj.set("read_variant", json::Value::string(c.read_all.variant));
  obj.set("read_gbs_1t", rounded(c.read_single.gbs));
  const struct {
    const char* key;
    const cpu::ComputePeak& p;
  } peaks[] = {{"peak_fp32_gflops", c.fp32_fma}, {"peak_bf16_gflops", c.bf16_dot}, {"peak_int8_gops", c.int8_dot},
               {"peak_amx_bf16_gflops", c.amx_bf16}};
  for (const auto& e : peaks) {
    obj.set(e.key, rounded(e.p.all, 1));
    obj.set(std::string(e.key) + "_1t", rounded(e.p.single, 1));
  }
}

bool reset_peak_rss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  const bool wrote = std::fputs("5", f) >= 0;  // 5: reset the peak RSS to the current RSS (Linux >= 4.0)
  return std::fclose(f) == 0 && wrote;
}

uint64_t peak_rss_bytes() {
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

json::Value rounded(double v, int digits) {
  const double scale = std::pow(10.0, digits);
  return json::Value::number(std::round(v * scale) / scale);
}

}  // namespace tl::cli
