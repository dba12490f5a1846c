// model/cli/bench.cpp — `tinyllava bench`: end-to-end timing of one image question, phase by phase,
// each phase next to the ceiling this machine measured in the same run.
//
//   tinyllava bench -m DIR [-i IMAGE] [-p PROMPT] [-n 128] [--repeat N] [--read-buffer MIB] [--compare-f32]
//                   [--json] [engine options: -t, --isa, --precision, --device]
//
// Phases: image preprocessing, SigLIP encode, projector, prefill of the spliced prompt (774 positions
// for the real model and the default prompt), time to first token (preprocess + vision + projector +
// prefill + the first sample; load excluded), decode of N tokens (EOS ignored so N is exact), peak RSS.
// One warm-up pass, then --repeat N measured passes: every phase is reported as the median with its
// range (min–max), llama-bench style. Without -i a synthetic 640×480 image is used.
//
// Ceilings (CPU only; kernels/cpu/ceilings.h): the compute peaks and the read bandwidth are measured
// after the warm-up, and the read bandwidth once more after the last pass (decode is each pass's last
// phase); the larger of the two is the decode ceiling. Each phase as a fraction of its ceiling:
//   SigLIP, prefill   FLOPs of the phase (measure.h's convention) / time / matrix peak of the precision
//                     in use (F32: fp32 FMA; BF16: vdpbf16ps, or AMX where the GEMM runs on tiles)
//   decode            text weight bytes read per step × tok/s / read bandwidth ("bandwidth achieved")
//   decode by chunk   the same per chunk of up to 16 steps, against the read bandwidth probed just
//                     before and just after it (measure.h's ReadProbe: the ceiling's buffer and
//                     variants, one sweep each; the probes' time is not decode time). A shared host's
//                     bandwidth can change by 2x within seconds, even inside one decode.
// --compare-f32 runs the same prompt on the exact F32 CPU path too and reports the logit error and
// greedy agreement of the chosen precision (or of the GPU run, with --device cuda). With --json the last
// stdout line is one JSON object: medians under the field names tools and CI read, the ceilings and
// ratios, and "runs" with every pass's numbers.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/cpu/ceilings.h"
#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/threads.h"
#include "kernels/ops.h"
#include "model/cli/args.h"
#include "model/cli/commands.h"
#include "model/cli/options.h"
#include "model/cli/measure.h"
#include "tensor/error.h"

namespace tl::cli {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// GB/s of bytes copied by memcpy over a 256 MiB buffer on all threads (median of 5): kept next to the
// read ceiling for comparison (a copy also writes, and allocates its destination lines).
double copy_bandwidth_gbs(const cpu::Team& team) {
  const size_t n = 256u << 20;
  std::vector<char> a(n, 1), b(n, 2);
  std::vector<double> runs;
  for (int r = 0; r < 5; ++r) {
    auto t0 = Clock::now();
    cpu::parallel_for(team, 64, [&](int64_t c0, int64_t c1) {
      std::memcpy(b.data() + c0 * (n / 64), a.data() + c0 * (n / 64), (c1 - c0) * (n / 64));
    });
    runs.push_back(n / (ms_since(t0) * 1e6));
  }
  return spread(runs).median;
}

// The decode chunks' bandwidth probe: the read ceiling's own buffer and variants (those of the ISA that
// won), one sweep each. Measured 2026-12-01 on the Zen 5: a 128 MiB buffer read ~5 % faster than
// 512 MiB (part of it still came from the 32 MiB L3), and the winning variant alone, best of 2, ~4 %
// slower than the ceiling's best of all variants: both would have moved the ratio, not the decode.
std::vector<cpu::ReadKernel> probe_kernels(const cpu::Ceilings& c) {
  std::vector<cpu::ReadKernel> all = cpu::read_kernels(c.cap), same;
  std::string isa = all.front().isa;
  for (const cpu::ReadKernel& k : all)
    if (k.name == c.read_all.variant) isa = k.isa;
  for (const cpu::ReadKernel& k : all)
    if (k.isa == isa) same.push_back(k);
  return same;
}

// Everything one `bench` invocation measured.
struct BenchResult {
  Device device = Device::CPU;
  std::string precision;          // "f32", "bf16", or "cuda-F16" (the weights' dtype on the GPU)
  std::string weights;            // the text model's weights: "F16", "BF16", "F32", "q8" or "q4"
  std::vector<PhaseTimes> runs;   // the measured passes
  Trace last;                     // the last pass's outputs
  double load_ms = 0;
  uint64_t peak_rss = 0, weight_bytes = 0, file_bytes = 0;
  double kv_bytes = 0;            // K and V cache read per decode step, on average
  TextConfig text;                // for the KV bytes of each decode chunk
  int64_t kv_elem = 0;            // bytes per cached K or V value
  double step_bytes() const { return static_cast<double>(weight_bytes) + kv_bytes; }
  bool peak_rss_reset = true;     // false: the peak may include the ceilings' read buffer
  size_t probe_bytes = 0;         // the decode chunks' probe buffer, taken out of peak_rss
  int vision_layers = 0;
  bool have_ceilings = false;     // CPU runs only
  cpu::Ceilings ceilings;         // read_all: before the passes
  cpu::ReadBandwidth read_after;  // after the passes
  MatrixPeak matrix;
  double vision_flops = 0, prefill_flops = 0;
  double copy_gbs = 0;
  double logit_error = -1;        // --compare-f32 only
  int agree = -1;
  int threads = 0;
  std::string amx_status;
};

Spread phase(const BenchResult& r, double PhaseTimes::*field) {
  std::vector<double> v;
  for (const PhaseTimes& t : r.runs) v.push_back(t.*field);
  return spread(v);
}

double read_ceiling_gbs(const BenchResult& r) { return std::max(r.ceilings.read_all.gbs, r.read_after.gbs); }

// "  [1200.1–1300.2]" when there was more than one pass.
std::string range(const BenchResult& r, const Spread& s) {
  return r.runs.size() > 1 ? strfmt("  [%.1f–%.1f]", s.min, s.max) : std::string();
}

void print_phases(const BenchResult& r) {
  const PhaseTimes& t0 = r.runs.front();
  std::printf("%s: threads %d, precision %s, %lld prompt positions, %d decode tokens", device_name(r.device),
              r.threads, r.precision.c_str(), static_cast<long long>(t0.prompt_positions), t0.decode_tokens);
  if (r.runs.size() > 1) std::printf(", median of %zu runs [min–max]", r.runs.size());
  std::printf("\n");
  if (r.device == Device::CPU) std::printf("AMX            %s\n", r.amx_status.c_str());
  std::printf("load           %9.1f ms\n", r.load_ms);
  const double prefill_tok_s = t0.prompt_positions / (phase(r, &PhaseTimes::prefill_ms).median / 1e3);
  const struct {
    const char* name;
    double PhaseTimes::*field;
    std::string note;
  } rows[] = {{"preprocess", &PhaseTimes::preprocess_ms, ""},
              {"vision", &PhaseTimes::vision_ms, strfmt("  (SigLIP, %d layers)", r.vision_layers)},
              {"projector", &PhaseTimes::projector_ms, ""},
              {"prefill", &PhaseTimes::prefill_ms, strfmt("  (%.1f tok/s)", prefill_tok_s)},
              {"first token", &PhaseTimes::ttft_ms, "  (load excluded)"}};
  for (const auto& row : rows) {
    const Spread s = phase(r, row.field);
    std::printf("%-14s %9.1f ms%s%s\n", row.name, s.median, range(r, s).c_str(), row.note.c_str());
  }
  const Spread tok = phase(r, &PhaseTimes::decode_tok_s);
  std::printf("decode         %9.1f tok/s%s", tok.median, range(r, tok).c_str());
  if (r.device == Device::CUDA)
    std::printf("  (%s)", r.last.graph_instantiations
                              ? strfmt("CUDA graph, %d instantiation(s)", r.last.graph_instantiations).c_str()
                              : "kernel launches, no graph");
  std::printf("\n");
  std::printf("bandwidth      %9.1f GB/s achieved (%.1f MB of %s weights + %.1f MB of KV cache per token)\n",
              r.step_bytes() * tok.median / 1e9, r.weight_bytes / 1e6, r.weights.c_str(), r.kv_bytes / 1e6);
  std::printf("peak RSS       %9.1f MiB (weight file %.1f MiB%s)%s\n", r.peak_rss / 1048576.0, r.file_bytes / 1048576.0,
              r.probe_bytes ? strfmt("; the %zu MiB bandwidth probe left out", r.probe_bytes >> 20).c_str() : "",
              r.peak_rss_reset ? ""
                               : strfmt(" (may include the %zu MiB read buffer: the peak could not be reset)",
                                        r.ceilings.read_buffer_bytes >> 20).c_str());
}

// Every pass's decode chunks as a % of the read bandwidth probed around each.
struct ChunkRatio {
  double pct, read_gbs;
};
std::vector<ChunkRatio> chunk_ratios(const BenchResult& r) {
  std::vector<ChunkRatio> v;
  for (const PhaseTimes& t : r.runs)
    for (const DecodeChunk& k : t.chunks)
      v.push_back({chunk_pct_of_read(k, static_cast<double>(r.weight_bytes), r.text, t.prompt_positions, r.kv_elem),
                   k.read_gbs});
  return v;
}

void print_ceilings(const BenchResult& r) {
  const cpu::Ceilings& c = r.ceilings;
  std::printf("CPU            %s, %d threads%s\n", c.cpu.c_str(), c.threads, cap_text(c).c_str());
  std::printf("ceilings       read %.1f GB/s before the runs, %.1f after (%s; 1 thread %.1f); memcpy %.1f GB/s\n",
              c.read_all.gbs, r.read_after.gbs, c.read_all.variant.c_str(), c.read_single.gbs, r.copy_gbs);
  std::printf("               %s\n", peaks_text(c, false).c_str());
  std::printf("               1 thread: %s\n", peaks_text(c, true).c_str());
  auto compute = [&](const char* name, double flops, double ms) {
    const double gflops = flops / (ms * 1e6);
    std::printf("vs ceiling     %-8s %8.1f GFLOP in %8.1f ms = %7.1f GFLOP/s = %5.1f %% of %s %.0f GFLOP/s\n", name,
                flops / 1e9, ms, gflops, 100 * gflops / r.matrix.gflops, r.matrix.name.c_str(), r.matrix.gflops);
  };
  compute("SigLIP", r.vision_flops, phase(r, &PhaseTimes::vision_ms).median);
  compute("prefill", r.prefill_flops, phase(r, &PhaseTimes::prefill_ms).median);
  const double tok_s = phase(r, &PhaseTimes::decode_tok_s).median;
  const double achieved = r.step_bytes() * tok_s / 1e9;
  std::printf("vs ceiling     decode   %8.1f MB × %.1f tok/s = %.1f GB/s = %5.1f %% of read %.1f GB/s"
              " (the larger of before/after; weights alone %.1f %%)\n",
              r.step_bytes() / 1e6, tok_s, achieved, 100 * achieved / read_ceiling_gbs(r), read_ceiling_gbs(r),
              100 * r.weight_bytes * tok_s / 1e9 / read_ceiling_gbs(r));
  const std::vector<ChunkRatio> chunks = chunk_ratios(r);
  if (chunks.empty()) return;
  std::vector<double> pct, read;
  for (const ChunkRatio& c : chunks) pct.push_back(c.pct), read.push_back(c.read_gbs);
  const Spread p = spread(pct), b = spread(read);
  int steps = 0;
  for (const PhaseTimes& t : r.runs)
    for (const DecodeChunk& k : t.chunks) steps = std::max(steps, k.steps);
  std::printf("  by chunk     up to %d steps each, against the read probed on either side: %.1f %% [%.1f–%.1f] of"
              " %.1f GB/s [%.1f–%.1f], median of %zu\n", steps, p.median, p.min, p.max, b.median, b.min, b.max,
              chunks.size());
  if (chunks.size() > 16) return;
  std::printf("               ");
  for (const ChunkRatio& c : chunks) std::printf(" %.1f%%@%.0f", c.pct, c.read_gbs);
  std::printf("  (%% of read @ GB/s)\n");
}

json::Value runs_json(const BenchResult& r) {
  json::Value runs = json::Value::object();
  const struct {
    const char* key;
    double PhaseTimes::*field;
  } cols[] = {{"preprocess_ms", &PhaseTimes::preprocess_ms}, {"vision_ms", &PhaseTimes::vision_ms},
              {"projector_ms", &PhaseTimes::projector_ms},   {"prefill_ms", &PhaseTimes::prefill_ms},
              {"ttft_ms", &PhaseTimes::ttft_ms},             {"decode_tok_s", &PhaseTimes::decode_tok_s}};
  for (const auto& col : cols) {
    json::Value a = json::Value::array();
    for (const PhaseTimes& t : r.runs) a.push_back(rounded(t.*col.field, 3));
    runs.set(col.key, std::move(a));
  }
  return runs;
}

std::string bench_json(const BenchResult& r) {
  const PhaseTimes& t0 = r.runs.front();
  const double tok_s = phase(r, &PhaseTimes::decode_tok_s).median;
  json::Value o = json::Value::object();
  o.set("device", json::Value::string(device_name(r.device)));
  o.set("threads", json::Value::integer(r.threads));
  o.set("precision", json::Value::string(r.precision));
  o.set("load_ms", rounded(r.load_ms));
  o.set("preprocess_ms", rounded(phase(r, &PhaseTimes::preprocess_ms).median));
  o.set("vision_ms", rounded(phase(r, &PhaseTimes::vision_ms).median));
  o.set("projector_ms", rounded(phase(r, &PhaseTimes::projector_ms).median));
  o.set("prefill_tokens", json::Value::integer(t0.prompt_positions));
  o.set("prefill_ms", rounded(phase(r, &PhaseTimes::prefill_ms).median));
  o.set("ttft_ms", rounded(phase(r, &PhaseTimes::ttft_ms).median));
  o.set("decode_tokens", json::Value::integer(t0.decode_tokens));
  o.set("decode_tok_s", rounded(tok_s, 3));
  o.set("weights", json::Value::string(r.weights));
  o.set("weight_bytes_per_token", json::Value::integer(static_cast<int64_t>(r.weight_bytes)));
  o.set("copy_bandwidth_gbs", rounded(r.copy_gbs));
  o.set("kv_bytes_per_token", json::Value::integer(static_cast<int64_t>(r.kv_bytes)));
  o.set("bandwidth_achieved_gbs", rounded(r.step_bytes() * tok_s / 1e9));
  o.set("peak_rss_bytes", json::Value::integer(static_cast<int64_t>(r.peak_rss)));
  o.set("logit_error_vs_f32", json::Value::number(r.logit_error));
  o.set("greedy_agree_vs_f32", json::Value::integer(r.agree));
  o.set("repeat", json::Value::integer(static_cast<int64_t>(r.runs.size())));
  if (r.have_ceilings) {
    add_ceilings_json(o, r.ceilings);
    o.set("read_gbs_before", rounded(r.ceilings.read_all.gbs));
    o.set("read_gbs_after", rounded(r.read_after.gbs));
    o.set("read_gbs", rounded(read_ceiling_gbs(r)));
    o.set("matrix_peak", json::Value::string(r.matrix.name));
    o.set("matrix_peak_gflops", rounded(r.matrix.gflops, 1));
    o.set("vision_gflop", rounded(r.vision_flops / 1e9, 3));
    o.set("prefill_gflop", rounded(r.prefill_flops / 1e9, 3));
    o.set("vision_pct_of_peak", rounded(100 * r.vision_flops / (phase(r, &PhaseTimes::vision_ms).median * 1e6) / r.matrix.gflops));
    o.set("prefill_pct_of_peak", rounded(100 * r.prefill_flops / (phase(r, &PhaseTimes::prefill_ms).median * 1e6) / r.matrix.gflops));
    o.set("decode_pct_of_read", rounded(100 * r.step_bytes() * tok_s / 1e9 / read_ceiling_gbs(r)));
    o.set("decode_weights_pct_of_read", rounded(100 * r.weight_bytes * tok_s / 1e9 / read_ceiling_gbs(r)));
    json::Value chunks = json::Value::array();
    std::vector<double> pct;
    for (const ChunkRatio& c : chunk_ratios(r)) {
      json::Value k = json::Value::object();
      k.set("pct_of_read", rounded(c.pct));
      k.set("read_gbs", rounded(c.read_gbs));
      chunks.push_back(std::move(k));
      pct.push_back(c.pct);
    }
    if (!pct.empty()) o.set("decode_chunk_pct_of_read", rounded(spread(pct).median));
    o.set("decode_chunks", std::move(chunks));
  }
  o.set("runs", runs_json(r));
  return json::dump(o);
}

// The exact F32 CPU path on the same request: logit error and greedy agreement of `r.last`.
void compare_with_f32(const std::string& dir, const EngineOptions& options, const ImageU8& image, const Request& req,
                      BenchResult& r) {
  EngineOptions f32 = options;
  f32.device = Device::CPU;
  f32.kernels.precision = ops::Precision::F32;
  Engine exact_engine(dir, f32);
  Trace exact;
  time_pipeline(exact_engine, image, req, exact);
  double max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < exact.logits.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(exact.logits[i])));
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(r.last.logits[i]) - exact.logits[i]));
  }
  r.logit_error = max_diff / max_ref;
  const int decoded = static_cast<int>(r.last.tokens.size());
  r.agree = 0;
  while (r.agree < decoded && r.last.tokens[r.agree] == exact.tokens[r.agree]) ++r.agree;
  std::printf("vs f32         logit error %.2e of max |logit|; greedy tokens agree for %d of %d\n", r.logit_error, r.agree,
              decoded);
}

Args bench_args() {
  std::vector<Option> o = {{"-m", "--model", "DIR", "checkpoint directory (e.g. from 'tinyllava synth --config full')"},
               {"-i", "--image", "IMAGE", "image file (default: a synthetic 640x480 image)"},
               {"-p", "--prompt", "TEXT", "question (default: What are these?)"},
               {"-n", "--decode-tokens", "N", "tokens to decode (default 128; EOS ignored)"},
               {nullptr, "--repeat", "N", "measured passes after the warm-up (default 1); medians and ranges reported"},
               {nullptr, "--read-buffer", "MIB", "size of the read-bandwidth buffer (default 512)"},
               {nullptr, "--no-cuda-graph", nullptr, "with --device cuda: launch each decode kernel instead of replaying a graph"},
               {nullptr, "--compare-f32", nullptr, "also run the exact F32 path and report the logit error and greedy agreement"},
               {nullptr, "--json", nullptr, "end with one JSON line of the results"}};
  for (const Option& e : engine_option_list(true)) o.push_back(e);
  return Args("bench", "Time one image question end to end, phase by phase, against this machine's ceilings.", o);
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  Args args = bench_args();
  if (!args.parse(argc, argv, 2)) return 0;
  EngineOptions options = engine_options(args, "bench");
  options.cuda_graphs = !args.has("--no-cuda-graph");
  const int repeat = static_cast<int>(args.integer("--repeat", 1, 1, 1000));
  const size_t read_bytes = static_cast<size_t>(args.integer("--read-buffer", 512, 1, 1 << 20)) << 20;

  BenchResult r;
  r.device = options.device;
  auto t0 = Clock::now();
  Engine engine(args.required("--model"), options);
  r.load_ms = ms_since(t0);
  const ImageU8 image = args.has("--image") ? load_image(args.str("--image")) : synthetic_image();
  Request req;
  req.prompt = args.str("--prompt", "What are these?");
  req.generate.max_new_tokens = static_cast<int>(args.integer("--decode-tokens", 128, 1, 1 << 20));
  req.generate.ignore_eos = true;
  req.keep_stages = false;

  // Warm-up (pages in the mmapped weights, sizes the arenas), the ceilings, then the measured passes.
  time_pipeline(engine, image, req, r.last);
  r.have_ceilings = r.device == Device::CPU;
  const int threads = engine.kernels().threads();
  r.threads = threads;
  std::unique_ptr<cpu::ReadBuffer> probe_buffer;
  ReadProbe probe;
  if (r.have_ceilings) {
    r.ceilings = cpu::measure_ceilings(threads, read_bytes, engine.kernels().cpu().cap);
    probe_buffer = std::make_unique<cpu::ReadBuffer>(read_bytes, threads);
    probe = {probe_buffer.get(), probe_kernels(r.ceilings), threads};
    r.probe_bytes = probe_buffer->bytes();
  }
  r.peak_rss_reset = !r.have_ceilings || reset_peak_rss();
  if (!r.peak_rss_reset) r.probe_bytes = 0;  // the peak is not reset: nothing known to take out
  for (int i = 0; i < repeat; ++i)
    r.runs.push_back(time_pipeline(engine, image, req, r.last, r.have_ceilings ? &probe : nullptr));
  r.peak_rss = peak_rss_bytes() - r.probe_bytes;  // the probe buffer was resident when the peak was reset
  if (r.have_ceilings) {
    r.read_after = cpu::read_bandwidth(*probe_buffer, cpu::read_kernels(r.ceilings.cap), threads);
    probe_buffer.reset();
    r.matrix = matrix_peak(r.ceilings, engine.kernels());
    r.vision_flops = vision_flops(engine.config());
    r.prefill_flops = prefill_flops(engine.config(), r.runs.front().prompt_positions);
  }
  r.copy_gbs = copy_bandwidth_gbs(engine.kernels().cpu().team);
  r.weight_bytes = text_weight_bytes(engine.model());
  const PhaseTimes& first = r.runs.front();
  r.text = engine.config().text;
  r.kv_elem = static_cast<int64_t>(dtype_size(engine.kv_dtype()));
  r.kv_bytes = kv_read_bytes_per_token(r.text, first.prompt_positions, first.decode_tokens, r.kv_elem);
  r.file_bytes = engine.model().checkpoint->total_bytes();
  const std::string& quant = engine.config().quant_format;
  r.weights = quant.empty() ? dtype_name(engine.model().weights.text.layers.at(0).qkv.dtype) : quant;
  r.vision_layers = engine.config().vision_layers_used();
  // On the GPU, F16/BF16 weights run on tensor cores (activations rounded to the weight dtype) and F32
  // weights in F32: the "precision" is the weights' dtype.
  r.precision = r.device == Device::CUDA ? std::string("cuda-") + dtype_name(engine.model().weights.text.layers.at(0).qkv.dtype)
                                         : ops::precision_name(engine.kernels().precision());
  r.amx_status = cpu::amx_status();
  print_phases(r);
  if (r.have_ceilings) print_ceilings(r);
  if (args.has("--compare-f32")) compare_with_f32(args.required("--model"), options, image, req, r);
  if (args.has("--json")) std::printf("%s\n", bench_json(r).c_str());
  return 0;
}

}  // namespace tl::cli
