// model/cli/run.cpp — `tinyllava run` (answer a question about an image, streaming), `tinyllava dump`
// (the same pipeline, writing every stage as .npy for inspection and parity tests) and
// `tinyllava embed` (an image's projected rows as .npy, for --image-embeds).
//
//   tinyllava run   -m DIR [-i IMAGE|URL | --pixels F.npy | --image-embeds F.npy] (-p PROMPT | -f FILE)
//                   [-n 512] [--system TEXT] [--raw] [--json] [sampling] [engine options]
//   tinyllava dump  -m DIR [-i IMAGE|URL | --pixels F.npy] -p PROMPT -o OUTDIR [-n 16] [--raw] [--ref]
//   tinyllava embed -m DIR -i IMAGE -o FILE.npy
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "model/cli/args.h"
#include "model/cli/commands.h"
#include "model/cli/options.h"
#include "model/cli/pipeline.h"
#include "model/generate.h"
#include "tensor/clock.h"
#include "tensor/error.h"
#include "weights/file.h"
#include "weights/json.h"
#include "weights/npy.h"

namespace tl::cli {

namespace {

std::vector<Option> run_options() {
  std::vector<Option> o = {
      {"-m", "--model", "DIR", "checkpoint directory (config.json, model.safetensors, tokenizer.model)"},
      {"-p", "--prompt", "TEXT", "the question (put in the chat template unless --raw)"},
      {"-f", "--file", "FILE", "read the question from FILE ('-': standard input) instead of -p"},
      {"-n", "--max-new-tokens", "N", "tokens to generate at most (default 512; 0: prefill only, print nothing)"},
      {nullptr, "--system", "TEXT", "the template's system prompt (default: the original's)"},
      {nullptr, "--raw", nullptr, "use the prompt as is, without the chat template (write <image> yourself)"},
      {nullptr, "--json", nullptr, "print one JSON object (text, token ids, finish reason, timings) instead of the text"},
      {nullptr, "--beams", "N", "beam search with N beams (HF generate(num_beams=N); the answer shows when it ends)"},
      {nullptr, "--no-cuda-graph", nullptr, "with --device cuda: launch each decode kernel instead of replaying a graph"},
  };
  for (const auto& list : {image_option_list(), sampling_option_list(), engine_option_list(true)})
    o.insert(o.end(), list.begin(), list.end());
  return o;
}

std::string read_text_file(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input("%s: cannot read the prompt file", path.c_str());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// -p or -f (one of them).
std::string prompt_option(const Args& args) {
  if (args.has("--prompt") && args.has("--file")) fail_input("give either -p or -f, not both");
  if (args.has("--file")) return read_text_file(args.str("--file"));
  return args.required("--prompt");
}

Request make_request(const Args& args, int default_n) {
  Request r;
  r.prompt = prompt_option(args);
  r.raw = args.has("--raw");
  if (args.has("--system")) {
    if (r.raw) fail_input("--system: has no effect with --raw (write the whole prompt yourself)");
    r.system = args.str("--system");
  }
  r.generate.max_new_tokens = static_cast<int>(args.integer("--max-new-tokens", default_n, 0, 1 << 20));
  return r;
}

std::string run_json(const Engine& engine, const Trace& t, const std::string& text, double load_s) {
  json::Value o = json::Value::object();
  o.set("text", json::Value::string(text));
  json::Value ids = json::Value::array();
  for (int id : t.tokens) ids.push_back(json::Value::integer(id));
  o.set("tokens", ids);
  o.set("finish_reason", json::Value::string(finish_reason_name(t.finish)));
  o.set("prompt_positions", json::Value::integer(t.prompt_positions));
  json::Value ms = json::Value::object();
  ms.set("load", json::Value::number(load_s * 1e3));
  ms.set("vision", json::Value::number((t.vision_s + t.projector_s) * 1e3));
  ms.set("prefill", json::Value::number(t.prefill_s * 1e3));
  ms.set("decode", json::Value::number(t.decode_s * 1e3));
  o.set("timings_ms", ms);
  o.set("engine", json::Value::string(engine_summary(engine)));
  return json::dump(o);
}

}  // namespace

int cmd_run(int argc, char** argv) {
  Args args("run", "Answer a prompt about an image (or a text-only prompt), streaming the answer.", run_options());
  if (!args.parse(argc, argv, 2)) return 0;
  EngineOptions options = engine_options(args, "run");
  options.cuda_graphs = !args.has("--no-cuda-graph");
  Request req = make_request(args, 512);
  req.generate.sampling = sampling_options(args);
  req.generate.repeat_penalty = repeat_penalty_option(args);
  req.generate.num_beams = static_cast<int>(args.integer("--beams", 1, 1, 64));
  const bool as_json = args.has("--json"), status = !as_json && ::isatty(2);
  auto t0 = Clock::now();
  Engine engine(args.required("--model"), options);
  const double load_s = seconds_since(t0);

  OwnedTensor pixels;
  if (status && (args.has("--image") || args.has("--pixels"))) std::fputs("encoding image…\r", stderr);
  t0 = Clock::now();
  req.image = image_option(args, engine, &pixels);
  const double image_s = seconds_since(t0);
  req.keep_stages = false;
  if (status) std::fputs("prefill…        \r", stderr);

  StreamDecoder decoder(engine.tokenizer(), /*skip_special=*/true);
  StrippedWriter out(as_json ? nullptr : stdout);
  std::string text;
  Trace trace;
  bool first = true;
  install_interrupt();  // Ctrl-C ends the answer early; the timings are still printed
  run(engine, req, trace, [&](int id) {
    if (first && status) std::fputs("                \r", stderr);
    first = false;
    const std::string piece = decoder.push(id);
    text += piece;
    if (!as_json) out.write(piece);
    return !interrupted();
  });
  const std::string rest = decoder.finish();
  text += rest;
  if (as_json) {
    const size_t b = text.find_first_not_of(" \t\n\r"), e = text.find_last_not_of(" \t\n\r");
    std::printf("%s\n", run_json(engine, trace, b == std::string::npos ? "" : text.substr(b, e - b + 1), load_s).c_str());
    return 0;
  }
  out.write(rest);
  if (!trace.tokens.empty()) std::fputc('\n', stdout);
  std::fflush(stdout);
  const size_t n = trace.tokens.size();
  const double decode_tps = n > 1 && trace.decode_s > 0 ? (n - 1) / trace.decode_s : 0;
  std::fprintf(stderr,
               "\n[load %.2f s | image %.2f s | prefill %lld tok in %.2f s (%.1f tok/s) | decode %zu tok (%.1f tok/s) | "
               "%s | KV cache %.1f MiB | peak RSS %.0f MiB | %s]\n",
               load_s, image_s, static_cast<long long>(trace.prompt_positions), trace.prefill_s,
               trace.prefill_s > 0 ? trace.prompt_positions / trace.prefill_s : 0.0, n, decode_tps,
               finish_reason_name(trace.finish), trace.kv_cache_bytes / 1048576.0, peak_rss_mib(),
               engine_summary(engine).c_str());
  return 0;
}

int cmd_dump(int argc, char** argv) {
  std::vector<Option> o = {
      {"-m", "--model", "DIR", "checkpoint directory (config.json, model.safetensors, tokenizer.model)"},
      {"-i", "--image", "IMAGE", "image file or http(s) URL"},
      {nullptr, "--pixels", "FILE.npy", "preprocessed pixel values, f32 [3,S,S] or [1,3,S,S], instead of -i"},
      {"-p", "--prompt", "TEXT", "the question (put in the chat template unless --raw)"},
      {"-n", "--max-new-tokens", "N", "tokens to generate greedily (default 16)"},
      {nullptr, "--raw", nullptr, "use the prompt as is, without the chat template (write <image> yourself)"},
      {"-o", "--output", "DIR", "directory for the .npy files (created if missing)"},
      {nullptr, "--ref", nullptr, "use the reference kernels (slow; the specification)"},
  };
  for (const Option& e : engine_option_list(false)) o.push_back(e);
  Args args("dump", "Run the exact fp32 pipeline and write every stage as NumPy .npy files.", o);
  if (!args.parse(argc, argv, 2)) return 0;
  EngineOptions options = engine_options(args, "dump");
  options.kernels.precision = ops::Precision::F32;  // dump is always the exact path
  options.kernels.reference = args.has("--ref");
  if (options.device == Device::CUDA && args.has("--ref")) fail_input("dump: --ref runs the CPU reference kernels (drop --device cuda)");
  const std::string out = args.required("--output");
  Engine engine(args.required("--model"), options);
  OwnedTensor pixels;
  Request req = make_request(args, 16);
  req.image = image_option(args, engine, &pixels, /*keep_features=*/true);
  Trace trace;
  run(engine, req, trace);

  if (::mkdir(out.c_str(), 0755) != 0 && !is_directory(out)) fail_input("%s: cannot create directory", out.c_str());
  if (req.image) {
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
              req.image ? "pixel_values, vision_features, connector, " : "", ids.size(),
              static_cast<long long>(trace.prompt_positions), trace.logits.size(), tokens.size());
  if (options.device == Device::CUDA) {
    // The GPU's tensor cores round activations to the weights' dtype: its stated bound against the
    // exact CPU path (tests/model/test_cuda_model.cpp holds it on the fixtures).
    const DType wdt = engine.model().weights.text.layers.at(0).qkv.dtype;
    std::printf("device cuda, %s weights: expected error vs the exact CPU path <= %s of max |value| per stage\n",
                dtype_name(wdt), wdt == DType::F32 ? "5e-5" : wdt == DType::F16 ? "1e-2" : "3e-2");
  }
  return 0;
}

int cmd_embed(int argc, char** argv) {
  std::vector<Option> o = {
      {"-m", "--model", "DIR", "checkpoint directory"},
      {"-i", "--image", "IMAGE", "image file or http(s) URL"},
      {nullptr, "--pixels", "FILE.npy", "preprocessed pixel values instead of -i"},
      {"-o", "--output", "FILE.npy", "where to write the projected rows, f32 [N, D]"},
  };
  for (const Option& e : engine_option_list(true)) o.push_back(e);
  Args args("embed", "Encode an image once: write its projected rows for run/chat --image-embeds.", o);
  if (!args.parse(argc, argv, 2)) return 0;
  const std::string out = args.required("--output");
  if (!args.has("--image") && !args.has("--pixels")) fail_input("embed: give the image with -i (or --pixels)");
  Engine engine(args.required("--model"), engine_options(args, "embed"));
  OwnedTensor pixels;
  ImagePtr image = image_option(args, engine, &pixels);
  const OwnedTensor host = OwnedTensor::copy_of(image->rows.tensor);
  const Tensor& rows = host.tensor;
  write_npy_f32(out, rows.shape_vec(), rows.ptr<float>());
  std::printf("wrote %s: f32 [%lld, %lld] (vision %.2f s, projector %.3f s)\n", out.c_str(),
              static_cast<long long>(rows.shape[0]), static_cast<long long>(rows.shape[1]), image->vision_s,
              image->projector_s);
  return 0;
}

}  // namespace tl::cli
