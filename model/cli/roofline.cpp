// model/cli/roofline.cpp — `tinyllava roofline`: every kernel kind of the model, at the model's real
// shapes, on a roofline of this machine's ceilings measured in the same run.
//
//   tinyllava roofline [-m DIR] [-o FILE.svg] [-t THREADS] [--precision f32|bf16|auto] [-n 32] [--reps 5]
//                      [--read-buffer MIB] [--device cpu|cuda]
//
// 1. Ceilings (kernels/cpu/ceilings.h; with --device cuda the GPU's, kernels/cuda/ceilings.cu): read
//    bandwidth, and the compute peak of each matrix family.
// 2. With -m: the end-to-end pipeline (measure.h's time_pipeline, as bench runs it: a warm-up pass and
//    a measured one, -n decode tokens) for the bar of where the time goes.
// 3. Each kernel through kernels/ops.h at the shapes of the config (config.json with -m, else the
//    built-in full-size config of `synth --config full`) on random tensors made in memory (speed does
//    not depend on values), weights in the checkpoint's dtype (F16 without -m): SigLIP GEMMs, patch
//    embedding, SigLIP attention, layernorm; OpenELM prefill GEMMs and attention of the last (widest)
//    layer, rmsnorm; decode GEMVs (that layer's proj_1, the output head) and decode attention after the
//    prompt (OpenELM's attention on KV cache layers as the engine holds them). Warm-up calls (one, or
//    kDecodeWarmup for decode kernels), then the median of --reps calls; decode kernels cycle through
//    copies of their operands (128 MiB in all) so that, as in a real decode step, they read them from
//    memory. On the GPU the operands live in device memory and each timed sample is kGpuBatch calls
//    and one synchronize, divided (a lone small kernel would time its launch and the wait).
// Output: a table on stdout (intensity, GFLOP/s, the roof that bounds each kernel and the fraction of
// it reached) and the SVG (roofline_svg.cpp).
#include "model/cli/roofline.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>

#include "kernels/ops.h"
#include "model/cli/args.h"
#include "model/cli/commands.h"
#include "model/cli/measure.h"
#include "model/cli/options.h"
#include "tensor/arith.h"
#include "tensor/buffer.h"
#include "tensor/clock.h"
#include "tensor/error.h"
#include "tensor/quant.h"
#include "weights/synth.h"

namespace tl::cli {

namespace {

// Text tokens of the default prompt around the image in the chat template ("What are these?": 47 ids,
// one of them the image), for the prefill length without a checkpoint.
constexpr int64_t kDefaultPromptTextTokens = 46;

// Everything a kernel measurement needs to know besides its shape.
struct KernelContext {
  const ops::Context* ops = nullptr;  // the kernels' options (precision, threads, ISA)
  Device device = Device::CPU;        // where the operands live and the kernels run
  DType wt = DType::F16;   // stored float weights (norms, biases, patch embedding)
  DType vision_matrix = DType::F16, text_matrix = DType::F16;  // Linear weights: float, or Q8/Q4
  DType head_matrix = DType::F16;  // the output head (Q8 in a q4 checkpoint)
  DType kv = DType::F32;   // the KV cache (F16 on the bf16 path)
  int reps = 5;
  MatrixPeak matrix;       // bounds GEMMs with >= 4 rows at the precision in use
  MatrixPeak attention;    // bounds attention with >= 4 queries (bf16: vdpbf16ps products, never AMX)
  MatrixPeak fp32;         // bounds everything else (F32 math)
  MatrixPeak patches;      // GPU: the patch embedding's GEMM (tensor cores for F16/BF16 weights)
};

constexpr int kGpuBatch = 20;  // calls per timed sample on the GPU

// Median milliseconds per call of fn() over k.reps samples, after `warmup` calls (on the GPU each sample
// is kGpuBatch calls and the wait for them).
double median_ms(const KernelContext& k, const std::function<void()>& fn, int warmup = 1) {
  const int batch = k.device == Device::CUDA ? kGpuBatch : 1;
  for (int w = 0; w < warmup; ++w) fn();
  ops::synchronize(k.device);
  std::vector<double> ms;
  for (int r = 0; r < k.reps; ++r) {
    const auto t0 = Clock::now();
    for (int b = 0; b < batch; ++b) fn();
    ops::synchronize(k.device);
    ms.push_back(1e3 * seconds_since(t0) / batch);
  }
  return spread(ms).median;
}

// A host tensor where the kernels run (itself on the CPU).
OwnedTensor placed(const KernelContext& k, OwnedTensor host) {
  if (k.device == Device::CPU) return host;
  return OwnedTensor::copy_of(host.tensor, k.device);
}

// A tensor of small pseudo-random values (a 4096-value pattern, tiled) in dtype `dt`.
OwnedTensor random_tensor(DType dt, const std::vector<int64_t>& shape) {
  OwnedTensor t = OwnedTensor::empty(dt, shape);
  std::vector<float> pattern(4096);
  uint32_t s = 12345;
  for (float& v : pattern) v = ((s = s * 1664525u + 1013904223u) >> 8) * (0.1f / 16777216.0f) - 0.05f;
  const int64_t n = t.tensor.numel();
  char* dst = static_cast<char*>(t.tensor.data);
  for (int64_t i = 0; i < n; i += 4096)
    convert_from_f32(pattern.data(), dst + i * dtype_size(dt), dt, static_cast<size_t>(std::min<int64_t>(4096, n - i)));
  return t;
}

// A [N, K] weight matrix of small pseudo-random values: float as random_tensor, or Q8/Q4 codes and
// scales in one buffer (tensor/quant.h).
OwnedTensor random_matrix(DType dt, int64_t N, int64_t K) {
  if (!is_quantized(dt)) return random_tensor(dt, {N, K});
  const int64_t rb = quant_row_bytes(dt, K), g = quant_groups(K);
  OwnedTensor t = OwnedTensor::empty(DType::U8, {N * (rb + 2 * g)});
  const OwnedTensor row = random_tensor(DType::F32, {K});
  uint8_t* codes = t.tensor.ptr<uint8_t>();
  uint16_t* scales = reinterpret_cast<uint16_t*>(codes + N * rb);
  for (int64_t n = 0; n < N; ++n) quantize_row(dt, row.tensor.ptr<float>(), K, codes + n * rb, scales + n * g);
  t.tensor = Tensor::view(codes, dt, {N, K});
  t.tensor.scales = scales;
  return t;
}

// Decode kernels run back to back in a step (~160 parallel regions), where the thread pool's workers
// spin between them; after the setup of a point the pool has seen long waits and sleeps through its
// cooldown (kernels/cpu/threads.cpp), which would add a wake-up (25-60 µs) to every timed call. They
// get this many warm-up calls first (the attention point measured 83 µs after one, 40 µs after these).
constexpr int kDecodeWarmup = 128;

// Decode kernels read their operands from memory in the real model (914 MB of weights and every layer's
// KV cache per step), so they are timed on copies that together pass any L3 (128 MiB), one copy per call.
int cold_copies(size_t bytes) {
  constexpr size_t kColdBytes = size_t{128} << 20;
  return static_cast<int>(std::clamp<size_t>(ceil_div<size_t>(kColdBytes, std::max<size_t>(bytes, 1)), 1, 64));
}

KernelPoint gemm_point(const KernelContext& k, DType wt, const char* label, const char* group, int64_t M, int64_t N,
                       int64_t K, bool bias, ops::Epilogue epi = ops::Epilogue::None) {
  OwnedTensor x = placed(k, random_tensor(DType::F32, {M, K})), b = placed(k, random_tensor(DType::F32, {N}));
  OwnedTensor y = OwnedTensor::empty(DType::F32, {M, N}, k.device);
  std::vector<OwnedTensor> w(1);
  w[0] = placed(k, random_matrix(wt, N, K));
  const size_t w_bytes = w[0].buffer.size();  // codes and scales for Q8/Q4
  if (M < 4)
    for (int c = cold_copies(w_bytes); static_cast<int>(w.size()) < c;) w.push_back(placed(k, random_matrix(wt, N, K)));
  KernelPoint p;
  p.label = label;
  p.group = group;
  p.shape = strfmt("%lldx%lld -> %lld, %s", static_cast<long long>(M), static_cast<long long>(K),
                   static_cast<long long>(N), dtype_name(wt));
  p.flops = gemm_flops(M, N, K);
  p.bytes = static_cast<double>(w_bytes + x.tensor.nbytes() + y.tensor.nbytes() + (bias ? b.tensor.nbytes() : 0));
  size_t call = 0;
  p.ms = median_ms(
      k, [&] { ops::matmul(*k.ops, x.tensor, w[call++ % w.size()].tensor, bias ? &b.tensor : nullptr, y.tensor, epi); },
      M < 4 ? kDecodeWarmup : 1);
  const MatrixPeak& roof = M >= 4 ? k.matrix : k.fp32;
  p.roof = roof.name;
  p.roof_gflops = roof.gflops;
  return p;
}

KernelPoint attention_point(const KernelContext& k, const char* label, const char* group, int64_t T, int64_t S,
                            int64_t H, int64_t Hkv, int64_t Dh, int64_t causal_offset, bool cached) {
  OwnedTensor q = placed(k, random_tensor(DType::F32, {T, H, Dh})), out = OwnedTensor::empty(DType::F32, {T, H, Dh}, k.device);
  // K, V, K, V, ... (copies for decode, see cold_copies). OpenELM's attention reads its KV cache layers
  // (k.kv, in the layout ops::kv_cache_shape gives the engine), SigLIP's its own F32 K and V.
  std::vector<OwnedTensor> kv;
  const DType kvt = cached ? k.kv : DType::F32;
  const std::vector<int64_t> kv_shape = cached ? ops::kv_cache_shape(k.device, S, Hkv, Dh) : std::vector<int64_t>{S, Hkv, Dh};
  const int copies = T < 4 ? cold_copies(2 * static_cast<size_t>(S * Hkv * Dh) * dtype_size(kvt)) : 1;
  for (int c = 0; c < 2 * copies; ++c) kv.push_back(placed(k, random_tensor(kvt, kv_shape)));
  KernelPoint p;
  p.label = label;
  p.group = group;
  p.shape = strfmt("%lldx%lld, %lld/%lld heads x %lld%s", static_cast<long long>(T), static_cast<long long>(S),
                   static_cast<long long>(H), static_cast<long long>(Hkv), static_cast<long long>(Dh),
                   causal_offset < 0 ? "" : ", causal");
  p.flops = attention_flops(T, S, H, Dh, causal_offset);
  p.bytes = static_cast<double>(2 * q.tensor.nbytes() + 2 * kv[0].tensor.nbytes());
  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  int call = 0;
  p.ms = median_ms(k, [&] {
    const int c = call++ % copies;
    if (cached)
      ops::attention_cached(*k.ops, q.tensor, kv[2 * c].tensor, kv[2 * c + 1].tensor, S, out.tensor, scale, causal_offset);
    else
      ops::attention(*k.ops, q.tensor, kv[2 * c].tensor, kv[2 * c + 1].tensor, out.tensor, scale, causal_offset);
  }, T < 4 ? kDecodeWarmup : 1);
  const MatrixPeak& roof = T >= 4 ? k.attention : k.fp32;
  p.roof = roof.name;
  p.roof_gflops = roof.gflops;
  return p;
}

KernelPoint patch_embed_point(const KernelContext& k, const VisionConfig& v) {
  const int64_t C = v.num_channels, S = v.image_size, p = v.patch_size, D = v.hidden_size, P = v.num_patches();
  OwnedTensor px = placed(k, random_tensor(DType::F32, {C, S, S})), w = placed(k, random_tensor(k.wt, {D, C, p, p}));
  OwnedTensor b = placed(k, random_tensor(k.wt, {D})), out = OwnedTensor::empty(DType::F32, {P, D}, k.device);
  KernelPoint r;
  r.label = "patch embed";
  r.group = "SigLIP";
  r.shape = strfmt("%lldx%lldx%lld -> %lldx%lld, %s", static_cast<long long>(C), static_cast<long long>(S),
                   static_cast<long long>(S), static_cast<long long>(P), static_cast<long long>(D), dtype_name(k.wt));
  r.flops = gemm_flops(P, D, C * p * p);
  r.bytes = static_cast<double>(px.tensor.nbytes() + w.tensor.nbytes() + out.tensor.nbytes());
  r.ms = median_ms(k, [&] { ops::patch_embed(*k.ops, px.tensor, w.tensor, b.tensor, out.tensor); });
  const MatrixPeak& roof = k.device == Device::CUDA ? k.patches : k.fp32;  // the CPU's is F32 on every path
  r.roof = roof.name;
  r.roof_gflops = roof.gflops;
  return r;
}

// layernorm (8 FLOP per element: mean, variance, normalise, scale and shift) or rmsnorm (4).
KernelPoint norm_point(const KernelContext& k, bool layernorm, int64_t T, int64_t D) {
  OwnedTensor x = placed(k, random_tensor(DType::F32, {T, D})), y = OwnedTensor::empty(DType::F32, {T, D}, k.device);
  OwnedTensor w = placed(k, random_tensor(k.wt, {D})), b = placed(k, random_tensor(k.wt, {D}));
  KernelPoint p;
  p.label = layernorm ? "layernorm" : "rmsnorm";
  p.group = "norms";
  p.shape = strfmt("%lldx%lld, %s", static_cast<long long>(T), static_cast<long long>(D), dtype_name(k.wt));
  p.flops = (layernorm ? 8.0 : 4.0) * T * D;
  p.bytes = static_cast<double>(x.tensor.nbytes() + y.tensor.nbytes() + (layernorm ? 2 : 1) * w.tensor.nbytes());
  p.ms = median_ms(k, [&] {
    if (layernorm) ops::layernorm(*k.ops, x.tensor, w.tensor, b.tensor, 1e-6f, y.tensor);
    else ops::rmsnorm(*k.ops, x.tensor, w.tensor, 1e-6f, y.tensor);
  });
  p.roof = k.fp32.name;
  p.roof_gflops = k.fp32.gflops;
  return p;
}

// Every kernel kind of the model at the config's shapes; T prompt positions for prefill and decode.
std::vector<KernelPoint> measure_kernels(const KernelContext& k, const VlmConfig& c, int64_t T) {
  const VisionConfig& v = c.vision;
  const int64_t P = v.num_patches(), Dv = v.hidden_size, Fv = v.intermediate_size;
  const TextConfig& t = c.text;
  const int l = static_cast<int>(t.layers.size()) - 1;  // the last layer: the most heads, the widest FFN
  const TextLayerConfig& L = t.layers[l];
  const int64_t D = t.model_dim, Dh = t.head_dim, F = L.ffn_dim, F1 = t.ffn_with_glu ? 2 * F : F;
  auto in_layer = [&](KernelPoint p) {
    p.shape += strfmt(", L%d", l);
    return p;
  };
  std::vector<KernelPoint> pts;
  const DType vm = k.vision_matrix, tm = k.text_matrix;
  pts.push_back(gemm_point(k, vm, "siglip qkv/o", "SigLIP", P, Dv, Dv, true));
  pts.push_back(gemm_point(k, vm, "siglip fc1", "SigLIP", P, Fv, Dv, true, ops::Epilogue::GeluTanh));
  pts.push_back(gemm_point(k, vm, "siglip fc2", "SigLIP", P, Dv, Fv, true));
  pts.push_back(patch_embed_point(k, v));
  pts.push_back(attention_point(k, "siglip attention", "SigLIP", P, P, v.num_attention_heads, v.num_attention_heads,
                                v.head_dim(), ops::kNonCausal, false));
  pts.push_back(norm_point(k, true, P, Dv));
  pts.push_back(in_layer(gemm_point(k, tm, "prefill qkv", "prefill", T, t.qkv_rows(l), D, false)));
  pts.push_back(in_layer(gemm_point(k, tm, "prefill out", "prefill", T, D, int64_t{L.num_query_heads} * Dh, false)));
  pts.push_back(in_layer(gemm_point(k, tm, "prefill proj_1", "prefill", T, F1, D, false)));
  pts.push_back(in_layer(gemm_point(k, tm, "prefill proj_2", "prefill", T, D, F, false)));
  pts.push_back(in_layer(attention_point(k, "prefill attention", "prefill", T, T, L.num_query_heads, L.num_kv_heads, Dh, 0, true)));
  pts.push_back(norm_point(k, false, T, D));
  pts.push_back(in_layer(gemm_point(k, tm, "decode proj_1", "decode", 1, F1, D, false)));
  pts.push_back(gemm_point(k, k.head_matrix, "decode head", "decode", 1, t.vocab_size, D, false));
  pts.push_back(in_layer(attention_point(k, "decode attention", "decode", 1, T + 1, L.num_query_heads, L.num_kv_heads, Dh, T, true)));
  return pts;
}

// The ceilings' lines of the table: the CPU's read variant and one-thread read, or the GPU's peaks.
std::string ceilings_text(const cpu::Ceilings& c) {
  return strfmt("read %.1f GB/s (%s), 1 thread %.1f GB/s\n          %s", c.read_all.gbs, c.read_all.variant.c_str(),
                c.read_single.gbs, peaks_text(c, false).c_str());
}

std::string ceilings_text(const cuda::DeviceCeilings& c) {
  return strfmt("read %.0f GB/s, fp32 FMA %.0f GFLOP/s, f16 tensor %.0f GFLOP/s, bf16 tensor %.0f GFLOP/s", c.read_gbs,
                c.fp32_gflops, c.f16_tc_gflops, c.bf16_tc_gflops);
}

void print_table(const RooflineChart& ch, const std::string& ceilings) {
  const ChartCeilings& c = ch.ceilings;
  std::printf("roofline: %s, %s, precision %s, %s, median of %d samples of %d call(s)\n", c.machine.c_str(),
              c.workers.c_str(), ch.precision.c_str(), ch.model.c_str(), ch.reps, ch.calls_per_sample);
  std::printf("ceilings: %s\n", ceilings.c_str());
  std::printf("layer L = the OpenELM layer timed; attention shapes are queries x keys, query/KV heads x Dh\n");
  std::printf("%-18s %-42s %8s %8s %7s %8s %8s  %-9s %6s\n", "kernel", "shape", "GFLOP", "MB", "FLOP/B", "ms", "GFLOP/s",
              "bound", "% roof");
  for (const KernelPoint& p : ch.points) {
    const double slope = c.read_gbs * p.intensity();
    const bool memory = slope < p.roof_gflops;
    std::printf("%-18s %-42s %8.3f %8.2f %7.1f %8.3f %8.1f  %-9s %6.1f\n", p.label.c_str(), p.shape.c_str(), p.flops / 1e9,
                p.bytes / 1e6, p.intensity(), p.ms, p.gflops(), memory ? "memory" : p.roof.c_str(),
                100 * p.gflops() / std::min(slope, p.roof_gflops));
  }
  if (ch.phases.empty()) return;
  double total = 0;
  for (const PhaseBar& b : ch.phases) total += b.ms;
  std::printf("end to end (%s): ", ch.phases_note.c_str());
  for (const PhaseBar& b : ch.phases) std::printf("%s %.1f ms (%.0f %%), ", b.name.c_str(), b.ms, 100 * b.ms / total);
  std::printf("total %.1f ms\n", total);
}

std::string now_text() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::localtime(&t));
  return buf;
}

// The shapes the kernels are timed at: a config, the stored weight dtype, the prompt positions.
struct ModelShapes {
  VlmConfig config;
  DType wt = DType::F16, vision_matrix = DType::F16, text_matrix = DType::F16, head_matrix = DType::F16;
  int64_t T = 0;
};

// The built-in full-size config (as `synth --config full` writes it), F16 weights, the default prompt.
ModelShapes builtin_full() {
  ModelShapes m;
  m.config = parse_config(json::parse(builtin_config("full"), "built-in full config"), "built-in full config");
  m.T = m.config.image_tokens() + kDefaultPromptTextTokens;
  return m;
}

// A checkpoint's shapes, and its end-to-end pass (a warm-up, then the measured one) for the phase bar.
ModelShapes checkpoint_with_phases(Engine& engine, int decode_tokens, RooflineChart& ch) {
  Request req;
  req.prompt = "What are these?";
  req.generate.max_new_tokens = decode_tokens;
  req.generate.ignore_eos = true;
  req.keep_stages = false;
  const ImageU8 image = synthetic_image();
  Trace trace;
  time_pipeline(engine, image, req, trace);
  const PhaseTimes t = time_pipeline(engine, image, req, trace);
  ch.phases = {{"preprocess", t.preprocess_ms}, {"SigLIP", t.vision_ms}, {"projector", t.projector_ms},
               {"prefill", t.prefill_ms}, {"decode", t.decode_ms}};
  ch.phases_note = strfmt("one image question, %lld positions, %d decode tokens at %.1f tok/s",
                          static_cast<long long>(t.prompt_positions), t.decode_tokens, t.decode_tok_s);
  ModelShapes m;
  m.config = engine.config();
  const ModelWeights& w = engine.model().weights;
  m.wt = w.text.layers.at(0).attn_norm.dtype;
  m.text_matrix = w.text.layers.at(0).qkv.dtype;
  m.vision_matrix = w.vision.layers.empty() ? m.wt : w.vision.layers.at(0).q_w.dtype;
  m.head_matrix = w.text.lm_head.dtype;
  m.T = t.prompt_positions;
  ch.model = strfmt("%s, %s weights", engine.model().dir.c_str(),
                    engine.config().quant_format.empty() ? dtype_name(m.wt) : engine.config().quant_format.c_str());
  return m;
}

// The roofs the kernels are held to: the CPU's for the precision in use, or the GPU's (tensor cores for
// F16/BF16 matrices, F32 SIMT for everything else, attention included).
void set_roofs(KernelContext& k, const cpu::Ceilings& c, const ops::Context& kernels) {
  k.matrix = matrix_peak(c, kernels);
  k.fp32 = matrix_peak(c, ops::Context(ops::Options{}));
  k.attention = kernels.precision() == ops::Precision::BF16 && c.bf16_dot.present() ? MatrixPeak{"bf16 dot", c.bf16_dot.all}
                                                                                     : k.fp32;
}

void set_roofs(KernelContext& k, const cuda::DeviceCeilings& c) {
  k.fp32 = {"fp32 FMA", c.fp32_gflops};
  k.attention = k.fp32;
  auto for_weights = [&](DType w) -> MatrixPeak {
    if (w == DType::F16) return {"f16 tensor", c.f16_tc_gflops};
    if (w == DType::BF16) return {"bf16 tensor", c.bf16_tc_gflops};
    return k.fp32;
  };
  k.matrix = for_weights(k.text_matrix);
  k.patches = for_weights(k.wt);
}

}  // namespace

int cmd_roofline(int argc, char** argv) {
  std::vector<Option> o = {
      {"-m", "--model", "DIR", "checkpoint: its config's shapes and weight dtype, and the end-to-end bar (default: the built-in full config, F16, no bar)"},
      {"-o", "--output", "FILE.svg", "where to write the chart (default roofline.svg)"},
      {"-n", "--decode-tokens", "N", "with -m: tokens decoded in the end-to-end pass (default 32)"},
      {nullptr, "--reps", "N", "timed samples per kernel, median taken (default 5)"},
      {nullptr, "--read-buffer", "MIB", "size of the read-bandwidth buffer (default 512; 1024 on the GPU)"}};
  for (const Option& e : engine_option_list(true))
    if (std::string(e.long_name) != "--ctx") o.push_back(e);
  Args args("roofline", "Time every kernel of the model at its real shapes and draw them on this machine's roofline.", o);
  if (!args.parse(argc, argv, 2)) return 0;
  const EngineOptions options = engine_options(args, "roofline");
  const bool gpu = options.device == Device::CUDA;
  const std::string out = args.str("--output", "roofline.svg");
  std::ofstream svg(out, std::ios::binary);
  if (!svg) fail_input("roofline: --output: cannot write '%s'", out.c_str());

  // The checkpoint is loaded first (a bad one fails before a second is spent), the ceilings measured on
  // a quiet process, then the pipeline and the kernels.
  std::unique_ptr<Engine> engine;
  if (args.has("--model")) engine = std::make_unique<Engine>(args.str("--model"), options);
  const ops::Context kernels(options.kernels);
  RooflineChart ch;
  KernelContext k;
  k.ops = &kernels;
  k.device = options.device;
  k.reps = static_cast<int>(args.integer("--reps", 5, 1, 1000));
  ch.reps = k.reps;
  ch.calls_per_sample = gpu ? kGpuBatch : 1;
  ch.date = now_text();
  const size_t read_bytes = static_cast<size_t>(args.integer("--read-buffer", gpu ? 1024 : 512, 1, 1 << 20)) << 20;
  cpu::Ceilings cpu_ceilings;
  cuda::DeviceCeilings gpu_ceilings;
  if (gpu) {
    gpu_ceilings = cuda::measure_ceilings(read_bytes);
    ch.ceilings = chart_ceilings(gpu_ceilings);
    ch.precision = "cuda (F16/BF16 matrices on tensor cores)";
  } else {
    cpu_ceilings = cpu::measure_ceilings(kernels.threads(), read_bytes, kernels.cpu().cap);
    ch.ceilings = chart_ceilings(cpu_ceilings);
    ch.precision = ops::precision_name(kernels.precision());
  }
  ModelShapes m;
  if (engine) {
    m = checkpoint_with_phases(*engine, static_cast<int>(args.integer("--decode-tokens", 32, 1, 1 << 20)), ch);
  } else {
    m = builtin_full();
    ch.model = "built-in full config, F16 weights";
  }
  k.wt = m.wt;
  k.vision_matrix = m.vision_matrix;
  k.text_matrix = m.text_matrix;
  k.head_matrix = m.head_matrix;
  k.kv = engine ? engine->kv_dtype()
                : (!gpu && kernels.precision() == ops::Precision::BF16 ? DType::F16 : DType::F32);  // as Engine::kv_dtype
  if (gpu) set_roofs(k, gpu_ceilings);
  else set_roofs(k, cpu_ceilings, kernels);
  ch.points = measure_kernels(k, m.config, m.T);
  print_table(ch, gpu ? ceilings_text(gpu_ceilings) : ceilings_text(cpu_ceilings));
  svg << roofline_svg(ch);
  svg.close();
  if (!svg) fail_input("roofline: --output: cannot write '%s'", out.c_str());
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

}  // namespace tl::cli
