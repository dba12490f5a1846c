// model/cli/bench.cpp — `tinyllava bench`: end-to-end timing of one image question, phase by phase.
//
//   tinyllava bench -m DIR [-i IMAGE] [-p PROMPT] [-n 128] [-t THREADS] [--precision f32|bf16|auto]
//                   [--device cpu|cuda] [--compare-f32] [--json]
//
// Phases: image preprocessing, SigLIP encode, projector, prefill of the spliced prompt (774 positions
// for the real model and the default prompt), time to first token (preprocess + vision + projector +
// prefill + the first sample; load excluded), decode of N tokens (EOS ignored so N is exact), peak RSS,
// and "bandwidth achieved": the text model's weight bytes read per decode step × decode tok/s, next
// to a memcpy bandwidth measured in the same process. Without -i a synthetic 640×480 image is used.
// --compare-f32 runs the same prompt on the exact F32 CPU path too and reports the logit error and
// greedy agreement of the chosen precision (or of the GPU run, with --device cuda). With --json the last stdout line is one JSON object
// (field names are an interface: tools and CI read them).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "kernels/cpu/gemm_bf16.h"
#include "kernels/cpu/threads.h"
#include "kernels/ops.h"
#include "model/cli/args.h"
#include "model/cli/commands.h"
#include "model/image.h"
#include "model/vlm.h"
#include "tensor/error.h"

namespace tl::cli {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

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

// GB/s of bytes copied by memcpy over a 256 MiB buffer on all threads (median of 5).
double copy_bandwidth_gbs() {
  const size_t n = 256u << 20;
  std::vector<char> a(n, 1), b(n, 2);
  std::vector<double> runs;
  for (int r = 0; r < 5; ++r) {
    auto t0 = Clock::now();
    cpu::parallel_for(64, [&](int64_t c0, int64_t c1) {
      std::memcpy(b.data() + c0 * (n / 64), a.data() + c0 * (n / 64), (c1 - c0) * (n / 64));
    });
    runs.push_back(n / (ms_since(t0) * 1e6));
  }
  std::sort(runs.begin(), runs.end());
  return runs[2];
}

uint64_t text_weight_bytes(const LoadedModel& m) {
  uint64_t n = 0;
  for (const TensorEntry* e : m.used)
    if (e->name.rfind("language_model.", 0) == 0) n += e->nbytes;
  return n;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  Args args("bench", "Time one image question end to end, phase by phase.",
            {{"-m", "--model", "DIR", "checkpoint directory (e.g. from 'tinyllava synth --config full')"},
             {"-i", "--image", "IMAGE", "image file (default: a synthetic 640x480 image)"},
             {"-p", "--prompt", "TEXT", "question (default: What are these?)"},
             {"-n", "--decode-tokens", "N", "tokens to decode (default 128; EOS ignored)"},
             {"-t", "--threads", "N", "CPU threads (default: all)"},
             {nullptr, "--precision", "f32|bf16|auto", "CPU matrix products (default auto: bf16 where supported)"},
             kDeviceOption,
             {nullptr, "--no-cuda-graph", nullptr, "with --device cuda: launch each decode kernel instead of replaying a graph"},
             {nullptr, "--compare-f32", nullptr, "also run the exact F32 path and report the logit error and greedy agreement"},
             {nullptr, "--json", nullptr, "end with one JSON line of the results"}});
  if (!args.parse(argc, argv, 2)) return 0;
  if (args.has("--threads")) ops::set_num_threads(static_cast<int>(args.integer("--threads", 0, 1, 1024)));
  const std::string prec = args.str("--precision", "auto");
  if (prec != "f32" && prec != "bf16" && prec != "auto")
    fail_input("bench: --precision: expected f32, bf16 or auto, got '%s'", prec.c_str());
  if (prec == "bf16" && !ops::bf16_supported()) fail_input("bench: --precision bf16: this CPU has no AVX512_BF16");
  const ops::Precision precision = prec == "f32" ? ops::Precision::F32 : ops::Precision::BF16;

  const Device device = device_option(args);
  auto t0 = Clock::now();
  Vlm vlm(args.required("--model"), device);
  vlm.set_cuda_graphs(!args.has("--no-cuda-graph"));
  const double load_ms = ms_since(t0);
  const ImageU8 image = args.has("--image") ? load_image(args.str("--image")) : synthetic_image();

  Request req;
  req.prompt = args.str("--prompt", "What are these?");
  req.max_new_tokens = static_cast<int>(args.integer("--decode-tokens", 128, 1, 1 << 20));
  req.ignore_eos = true;
  req.keep_stages = false;
  auto run_once = [&](Vlm& model, ops::Precision p, Trace& trace, double* preprocess_ms, double* first_token_ms) {
    ops::set_precision(p);
    auto start = Clock::now();
    OwnedTensor pixels = preprocess_image(image, model.model().config);
    *preprocess_ms = ms_since(start);
    req.pixels = &pixels.tensor;
    bool first = true;
    model.run(req, trace, [&](int) {
      if (first) *first_token_ms = ms_since(start);
      first = false;
      return true;
    });
  };

  // One warm-up pass (page in the mmapped weights, size the arenas), then the measured pass.
  Trace warm, trace;
  double preprocess_ms = 0, ttft_ms = 0;
  run_once(vlm, precision, warm, &preprocess_ms, &ttft_ms);
  run_once(vlm, precision, trace, &preprocess_ms, &ttft_ms);

  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  const uint64_t peak_rss = static_cast<uint64_t>(ru.ru_maxrss) * 1024;  // before the bandwidth buffers
  const double bandwidth = copy_bandwidth_gbs();
  const uint64_t weight_bytes = text_weight_bytes(vlm.model());
  const int decoded = static_cast<int>(trace.tokens.size());
  const double decode_tok_s = decoded > 1 ? (decoded - 1) / trace.decode_s : 0.0;
  // On the GPU, F16/BF16 weights run on tensor cores (activations rounded to the weight dtype) and F32
  // weights in F32: the "precision" is the weights' dtype.
  const std::string pname = device == Device::CUDA ? std::string("cuda-") + dtype_name(vlm.model().weights.text.layers.at(0).qkv.dtype)
                                                   : ops::precision_name(ops::precision());

  std::printf("%s: threads %d, precision %s, %lld prompt positions, %d decode tokens\n", device_name(device),
              ops::num_threads(), pname.c_str(), static_cast<long long>(trace.prompt_positions), decoded);
  if (device == Device::CPU) std::printf("AMX            %s\n", cpu::amx_status());
  std::printf("load           %9.1f ms\n", load_ms);
  std::printf("preprocess     %9.1f ms\n", preprocess_ms);
  std::printf("vision         %9.1f ms  (SigLIP, %d layers)\n", trace.vision_s * 1e3, vlm.model().config.vision_layers_used());
  std::printf("projector      %9.1f ms\n", trace.projector_s * 1e3);
  std::printf("prefill        %9.1f ms  (%.1f tok/s)\n", trace.prefill_s * 1e3, trace.prompt_positions / trace.prefill_s);
  std::printf("first token    %9.1f ms  (load excluded)\n", ttft_ms);
  std::printf("decode         %9.1f tok/s", decode_tok_s);
  if (device == Device::CUDA)
    std::printf("  (%s)", trace.graph_instantiations ? strfmt("CUDA graph, %d instantiation(s)", trace.graph_instantiations).c_str()
                                                       : "kernel launches, no graph");
  std::printf("\n");
  std::printf("bandwidth      %9.1f GB/s achieved (%.1f MB of weights per token), memcpy %.1f GB/s\n",
              weight_bytes * decode_tok_s / 1e9, weight_bytes / 1e6, bandwidth);
  std::printf("peak RSS       %9.1f MiB (weight file %.1f MiB)\n", peak_rss / 1048576.0,
              vlm.model().checkpoint->total_bytes() / 1048576.0);

  double logit_error = -1;
  int agree = -1;
  if (args.has("--compare-f32")) {
    Trace exact;
    double p_ms = 0, f_ms = 0;
    if (device == Device::CUDA) {
      Vlm cpu(args.required("--model"), Device::CPU);
      run_once(cpu, ops::Precision::F32, exact, &p_ms, &f_ms);
    } else {
      run_once(vlm, ops::Precision::F32, exact, &p_ms, &f_ms);
    }
    double max_ref = 0, max_diff = 0;
    for (size_t i = 0; i < exact.logits.size(); ++i) {
      max_ref = std::max(max_ref, std::fabs(static_cast<double>(exact.logits[i])));
      max_diff = std::max(max_diff, std::fabs(static_cast<double>(trace.logits[i]) - exact.logits[i]));
    }
    logit_error = max_diff / max_ref;
    agree = 0;
    while (agree < decoded && trace.tokens[agree] == exact.tokens[agree]) ++agree;
    std::printf("vs f32         logit error %.2e of max |logit|; greedy tokens agree for %d of %d\n", logit_error, agree,
                decoded);
  }
  if (args.has("--json"))
    std::printf("{\"device\": \"%s\", \"threads\": %d, \"precision\": \"%s\", \"load_ms\": %.2f, \"preprocess_ms\": %.2f, \"vision_ms\": %.2f, "
                "\"projector_ms\": %.2f, \"prefill_tokens\": %lld, \"prefill_ms\": %.2f, \"ttft_ms\": %.2f, "
                "\"decode_tokens\": %d, \"decode_tok_s\": %.3f, \"weight_bytes_per_token\": %llu, "
                "\"copy_bandwidth_gbs\": %.2f, \"bandwidth_achieved_gbs\": %.2f, \"peak_rss_bytes\": %llu, "
                "\"logit_error_vs_f32\": %.3g, \"greedy_agree_vs_f32\": %d}\n",
                device_name(device), ops::num_threads(), pname.c_str(), load_ms, preprocess_ms, trace.vision_s * 1e3, trace.projector_s * 1e3,
                static_cast<long long>(trace.prompt_positions), trace.prefill_s * 1e3, ttft_ms, decoded, decode_tok_s,
                static_cast<unsigned long long>(weight_bytes), bandwidth, weight_bytes * decode_tok_s / 1e9,
                static_cast<unsigned long long>(peak_rss), logit_error, agree);
  return 0;
}

}  // namespace tl::cli
