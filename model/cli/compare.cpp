// model/cli/compare.cpp — `tinyllava compare -m A --vs B`: B's outputs measured against A's on one image
// question (model/compare.h): KL divergence and top-1 agreement under teacher forcing, greedy
// agreement, and the vision features' error.
#include <cstdio>

#include "model/cli/args.h"
#include "model/cli/commands.h"
#include "model/cli/measure.h"
#include "model/cli/options.h"
#include "model/compare.h"
#include "model/image.h"
#include "tokenizer/chat.h"
#include "weights/json.h"

namespace tl::cli {

int cmd_compare(int argc, char** argv) {
  std::vector<Option> opts = {
      {"-m", "--model", "A", "reference checkpoint (e.g. the float one)"},
      {nullptr, "--vs", "B", "checkpoint compared with it (e.g. its quantized copy)"},
      {"-i", "--image", "IMAGE", "image file (default: the synthetic 640x480 image of bench)"},
      {nullptr, "--no-image", nullptr, "a text-only question"},
      {"-p", "--prompt", "TEXT", "question (default: What are these? Describe the picture in detail.)"},
      {"-n", "--positions", "N", "teacher-forced positions compared (default 128)"},
      {nullptr, "--json", nullptr, "end with one JSON line of the results"}};
  for (const Option& o : engine_option_list(true)) opts.push_back(o);
  Args args("compare", "Measure how far checkpoint B's outputs are from checkpoint A's on one question.", opts);
  if (!args.parse(argc, argv, 2)) return 0;
  const EngineOptions options = engine_options(args, "compare");
  Engine a(args.required("--model"), options), b(args.required("--vs"), options);
  const bool image = !args.has("--no-image");
  OwnedTensor pixels;
  if (image)
    pixels = preprocess_image(args.has("--image") ? load_image(args.str("--image")) : synthetic_image(), a.config());
  const std::string question = args.str("--prompt", "What are these? Describe the picture in detail.");
  const std::string text = chat_prompt(kSystemPrompt, {ChatTurn{question, image, {}}});
  const int n = static_cast<int>(args.integer("--positions", 128, 1, 1 << 20));
  const CompareResult r = compare_models(a, b, text, image ? &pixels.tensor : nullptr, n);
  std::printf("compare        %s vs %s (%s), %lld positions teacher-forced on A's greedy answer\n",
              args.str("--vs").c_str(), args.str("--model").c_str(), engine_summary(a).c_str(),
              static_cast<long long>(r.positions));
  std::printf("KL(A||B)       mean %.3g, p99 %.3g, max %.3g nats\n", r.kl_mean, r.kl_p99, r.kl_max);
  std::printf("top-1          %.2f %% of positions agree\n", 100 * r.top1);
  std::printf("logits         off by up to %.3g of max |logit| (the worst position)\n", r.logit_error_max);
  std::printf("greedy         %lld of %lld tokens agree", static_cast<long long>(r.greedy_same),
              static_cast<long long>(r.positions));
  if (r.greedy_first_diff >= 0)
    std::printf(" (first difference at token %lld)", static_cast<long long>(r.greedy_first_diff));
  std::printf("; A's margins assure the first %lld", static_cast<long long>(r.greedy_assured));
  std::printf("\n");
  if (image)
    std::printf("vision         features off by %.3g (relative Frobenius), %.3g (max abs / max)\n", r.vision_rel_fro,
                r.vision_rel_max);
  if (args.has("--json")) {
    json::Value o = json::Value::object();
    o.set("positions", json::Value::integer(r.positions));
    o.set("kl_mean", json::Value::number(r.kl_mean));
    o.set("kl_p99", json::Value::number(r.kl_p99));
    o.set("kl_max", json::Value::number(r.kl_max));
    o.set("top1", json::Value::number(r.top1));
    o.set("greedy_same", json::Value::integer(r.greedy_same));
    o.set("greedy_first_diff", json::Value::integer(r.greedy_first_diff));
    o.set("greedy_assured", json::Value::integer(r.greedy_assured));
    o.set("logit_error_max", json::Value::number(r.logit_error_max));
    o.set("vision_rel_fro", json::Value::number(r.vision_rel_fro));
    o.set("vision_rel_max", json::Value::number(r.vision_rel_max));
    std::printf("%s\n", json::dump(o).c_str());
  }
  return 0;
}

}  // namespace tl::cli
