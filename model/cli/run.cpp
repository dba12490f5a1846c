// model/cli/run.cpp — `tinyllava run` (answer a question about an image, streaming) and
// `tinyllava dump` (the same pipeline, writing every stage as .npy for inspection and parity tests).
//
//   tinyllava run  -m DIR [-i IMAGE|URL | --pixels FILE.npy] -p PROMPT [-n 512] [--temp 0] [--top-k K]
//                  [--top-p P] [--seed S] [-t THREADS] [--raw]
//   tinyllava dump -m DIR [-i IMAGE|URL | --pixels FILE.npy] -p PROMPT -o OUTDIR [-n 16] [--raw] [--ref]
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/ops.h"
#include "model/cli/args.h"
#include "model/cli/commands.h"
#include "model/image.h"
#include "model/vlm.h"
#include "tensor/error.h"
#include "weights/file.h"
#include "weights/npy.h"

namespace tl::cli {

namespace {

std::vector<Option> pipeline_options(bool dump) {
  std::vector<Option> o = {
      {"-m", "--model", "DIR", "checkpoint directory (config.json, model.safetensors, tokenizer.model)"},
      {"-i", "--image", "IMAGE", "image file (JPEG, PNG, BMP, GIF, PNM) or http(s) URL (fetched with curl)"},
      {nullptr, "--pixels", "FILE.npy", "preprocessed pixel values, f32 [3,S,S] or [1,3,S,S], instead of -i"},
      {"-p", "--prompt", "TEXT", "the question (put in the chat template unless --raw)"},
      {"-n", "--max-new-tokens", "N", dump ? "tokens to generate greedily (default 16)" : "tokens to generate at most (default 512)"},
      {nullptr, "--raw", nullptr, "use the prompt as is, without the chat template (write <image> yourself)"},
      {"-t", "--threads", "N", "CPU threads (default: all)"},
      kDeviceOption,
  };
  if (dump) {
    o.push_back({"-o", "--output", "DIR", "directory for the .npy files (created if missing)"});
    o.push_back({nullptr, "--ref", nullptr, "use the reference kernels (slow; the specification)"});
  } else {
    o.push_back({nullptr, "--precision", "f32|bf16|auto", "matrix products: exact f32, or bf16 (AVX512_BF16; faster, "
                                                     "bounded error); auto = bf16 where supported (default)"});
    o.push_back({nullptr, "--temp", "T", "sampling temperature (default 0: greedy)"});
    o.push_back({nullptr, "--top-k", "K", "sample from the K most likely tokens (default 0: all)"});
    o.push_back({nullptr, "--top-p", "P", "sample from the smallest set with probability P (default 1)"});
    o.push_back({nullptr, "--seed", "S", "random seed for sampling (default 0)"});
  }
  return o;
}

// Downloads an http(s) URL with the system curl into a temporary file; returns its path.
std::string fetch_url(const std::string& url) {
  char tmpl[] = "/tmp/tinyllava-image-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) fail_input("%s: cannot create a temporary file", url.c_str());
  ::close(fd);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execlp("curl", "curl", "-fsL", "--max-time", "120", "--max-filesize", "268435456", "-o", tmpl, url.c_str(),
             static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) < 0) fail_input("%s: cannot run curl", url.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ::unlink(tmpl);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    fail_input("%s: download failed (curl exit %d%s)", url.c_str(), code, code == 127 ? ": curl not installed" : "");
  }
  return tmpl;
}

// The pixel tensor from -i or --pixels, or nothing for a text-only prompt.
bool load_pixels(const Args& args, const VlmConfig& config, OwnedTensor* pixels, double* seconds) {
  auto t0 = std::chrono::steady_clock::now();
  if (args.has("--image") && args.has("--pixels")) fail_input("give either -i or --pixels, not both");
  if (args.has("--pixels")) {
    const std::string path = args.str("--pixels");
    *pixels = read_npy_f32(path);
    const int S = config.vision.image_size;
    Tensor& t = pixels->tensor;
    if (t.has_shape({1, 3, S, S})) t = t.reshape({3, S, S});
    if (!t.has_shape({3, S, S}))
      fail_input("%s: shape %s (expected [3, %d, %d] or [1, 3, %d, %d])", path.c_str(), shape_str(t).c_str(), S, S, S, S);
  } else if (args.has("--image")) {
    std::string path = args.str("--image");
    const bool url = path.rfind("http://", 0) == 0 || path.rfind("https://", 0) == 0;
    if (url) path = fetch_url(path);
    ImageU8 im;
    try {
      im = load_image(path);
    } catch (...) {
      if (url) ::unlink(path.c_str());
      throw;
    }
    if (url) ::unlink(path.c_str());
    *pixels = preprocess_image(im, config);
  } else {
    return false;
  }
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return true;
}

Request make_request(const Args& args, const OwnedTensor* pixels, int default_n) {
  Request r;
  r.prompt = args.required("--prompt");
  r.raw = args.has("--raw");
  r.pixels = pixels ? &pixels->tensor : nullptr;
  r.max_new_tokens = static_cast<int>(args.integer("--max-new-tokens", default_n, 0, 1 << 20));
  return r;
}

void set_threads(const Args& args) {
  if (args.has("--threads")) ops::set_num_threads(static_cast<int>(args.integer("--threads", 0, 1, 1024)));
}

// Streams text with the surrounding whitespace removed, as chat() returns answer.strip().
class StrippedWriter {
 public:
  void write(const std::string& s) {
    for (char c : s) {
      if (std::isspace(static_cast<unsigned char>(c))) {
        if (started_) held_ += c;
        continue;
      }
      started_ = true;
      std::fputs(held_.c_str(), stdout);
      held_.clear();
      std::fputc(c, stdout);
    }
    std::fflush(stdout);
  }

 private:
  bool started_ = false;
  std::string held_;
};

double peak_rss_mib() {
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

}  // namespace

int cmd_run(int argc, char** argv) {
  Args args("run", "Answer a prompt about an image (or a text-only prompt), streaming the answer.", pipeline_options(false));
  if (!args.parse(argc, argv, 2)) return 0;
  set_threads(args);
  const std::string prec = args.str("--precision", "auto");
  if (prec != "f32" && prec != "bf16" && prec != "auto")
    fail_input("run: --precision: expected f32, bf16 or auto, got '%s'", prec.c_str());
  if (prec == "bf16" && !ops::bf16_supported())
    fail_input("run: --precision bf16: this CPU has no AVX512_BF16 (use f32 or auto)");
  ops::set_precision(prec == "f32" ? ops::Precision::F32 : ops::Precision::BF16);
  const Device device = device_option(args);
  auto t0 = std::chrono::steady_clock::now();
  Vlm vlm(args.required("--model"), device);
  double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  OwnedTensor pixels;
  double preprocess_s = 0;
  bool has_image = load_pixels(args, vlm.model().config, &pixels, &preprocess_s);
  Request req = make_request(args, has_image ? &pixels : nullptr, 512);
  req.sampling.temperature = static_cast<float>(args.number("--temp", 0.0, 0.0, 100.0));
  req.sampling.top_k = static_cast<int>(args.integer("--top-k", 0, 0, 1 << 30));
  req.sampling.top_p = static_cast<float>(args.number("--top-p", 1.0, 0.0, 1.0));
  if (args.has("--top-p") && req.sampling.top_p <= 0.0f) fail_input("run: --top-p: expected a number in (0, 1]");
  req.sampling.seed = static_cast<uint64_t>(args.integer("--seed", 0, 0, INT64_MAX));

  StreamDecoder decoder(vlm.tokenizer(), /*skip_special=*/true);
  StrippedWriter out;
  Trace trace;
  vlm.run(req, trace, [&](int id) {
    out.write(decoder.push(id));
    return true;
  });
  out.write(decoder.finish());
  std::fputc('\n', stdout);
  std::fflush(stdout);

  const size_t n = trace.tokens.size();
  const double decode_tps = n > 1 && trace.decode_s > 0 ? (n - 1) / trace.decode_s : 0;
  std::fprintf(stderr,
               "\n[load %.2f s | preprocess %.3f s | vision %.2f s | prefill %lld tok in %.2f s (%.1f tok/s) | "
               "decode %zu tok (%.1f tok/s) | KV cache %.1f MiB | peak RSS %.0f MiB | %s]\n",
               load_s, preprocess_s, trace.vision_s + trace.projector_s, static_cast<long long>(trace.prompt_positions), trace.prefill_s,
               trace.prefill_s > 0 ? trace.prompt_positions / trace.prefill_s : 0.0, n, decode_tps,
               trace.kv_cache_bytes / 1048576.0, peak_rss_mib(),
               device == Device::CUDA ? "cuda" : strfmt("%d threads, %s", ops::num_threads(),
                                                        ops::precision_name(ops::precision())).c_str());
  return 0;
}

int cmd_dump(int argc, char** argv) {
  Args args("dump", "Run the exact fp32 pipeline and write every stage as NumPy .npy files.", pipeline_options(true));
  if (!args.parse(argc, argv, 2)) return 0;
  set_threads(args);
  ops::use_reference_kernels(args.has("--ref"));
  ops::set_precision(ops::Precision::F32);  // dump is always the exact path on the CPU
  const Device device = device_option(args);
  if (device == Device::CUDA && args.has("--ref")) fail_input("dump: --ref runs the CPU reference kernels (drop --device cuda)");
  const std::string out = args.required("--output");
  Vlm vlm(args.required("--model"), device);
  OwnedTensor pixels;
  double preprocess_s = 0;
  bool has_image = load_pixels(args, vlm.model().config, &pixels, &preprocess_s);
  Request req = make_request(args, has_image ? &pixels : nullptr, 16);
  Trace trace;
  vlm.run(req, trace);

  if (::mkdir(out.c_str(), 0755) != 0 && !is_directory(out)) fail_input("%s: cannot create directory", out.c_str());
  if (has_image) {
    write_npy_f32(join_path(out, "pixel_values.npy"), pixels.tensor.shape_vec(), pixels.tensor.ptr<float>());
    write_npy_f32(join_path(out, "vision_features.npy"), trace.features.tensor.shape_vec(), trace.features.tensor.ptr<float>());
    write_npy_f32(join_path(out, "connector.npy"), trace.image_rows.tensor.shape_vec(), trace.image_rows.tensor.ptr<float>());
  }
  std::vector<int64_t> ids(trace.input_ids.begin(), trace.input_ids.end());
  std::vector<int64_t> tokens(trace.tokens.begin(), trace.tokens.end());
  write_npy_i64(join_path(out, "input_ids.npy"), {static_cast<int64_t>(ids.size())}, ids.data());
  write_npy_f32(join_path(out, "logits.npy"), {static_cast<int64_t>(trace.logits.size())}, trace.logits.data());
  write_npy_i64(join_path(out, "tokens.npy"), {static_cast<int64_t>(tokens.size())}, tokens.data());
  std::printf("wrote %s: %s%zu prompt ids, %lld positions, logits [%zu], %zu tokens\n", out.c_str(),
              has_image ? "pixel_values, vision_features, connector, " : "", ids.size(),
              static_cast<long long>(trace.prompt_positions), trace.logits.size(), tokens.size());
  if (device == Device::CUDA) {
    // The GPU's tensor cores round activations to the weights' dtype: its stated bound against the
    // exact CPU path (tests/model/test_cuda_model.cpp holds it on the fixtures).
    const DType wdt = vlm.model().weights.text.layers.at(0).qkv.dtype;
    std::printf("device cuda, %s weights: expected error vs the exact CPU path <= %s of max |value| per stage\n",
                dtype_name(wdt), wdt == DType::F32 ? "5e-5" : wdt == DType::F16 ? "1e-2" : "3e-2");
  }
  return 0;
}

}  // namespace tl::cli
