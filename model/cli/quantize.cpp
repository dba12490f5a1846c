// model/cli/quantize.cpp — `tinyllava quantize -m SRC -o DST --type q8|q4` (weights/quantize.h).
#include <cstdio>

#include "model/cli/args.h"
#include "model/cli/commands.h"
#include "tensor/clock.h"
#include "tensor/error.h"
#include "weights/quantize.h"

namespace tl::cli {

int cmd_quantize(int argc, char** argv) {
  Args args("quantize", "Rewrite a checkpoint with its Linear weights as 8-bit (q8) or 4-bit (q4) codes and scales.",
            {{"-m", "--model", "SRC", "float checkpoint directory (F32, F16 or BF16)"},
             {"-o", "--output", "DST", "directory to write (written beside it, then renamed)"},
             {nullptr, "--type", "q8|q4",
              "q8: int8 per group of 32; q4: 4 bits per group of 32 (the embedding / head and the image side stay q8)"},
             {nullptr, "--force", nullptr, "replace DST when it is not empty"},
             {"-t", "--threads", "N", "threads (default: all cores); the output is the same for any count"}});
  if (!args.parse(argc, argv, 2)) return 0;
  QuantizeOptions opt;
  const std::string type = args.required("--type");
  if (type == "q8") opt.type = DType::Q8;
  else if (type == "q4") opt.type = DType::Q4;
  else fail_input("quantize: --type: expected q8 or q4, got '%s'", type.c_str());
  opt.force = args.has("--force");
  opt.threads = static_cast<int>(args.integer("--threads", 0, 0, 1024));
  const std::string src = args.required("--model"), out = args.required("--output");
  const auto t0 = Clock::now();
  const QuantizeReport r = quantize_checkpoint(src, out, opt);
  const double s = seconds_since(t0);
  std::printf("wrote %s: %lld tensors quantized (%s), %lld copied; model.safetensors %.1f MB -> %.1f MB in %.1f s\n",
              out.c_str(), static_cast<long long>(r.quantized), type.c_str(), static_cast<long long>(r.copied),
              r.bytes_in / 1e6, r.bytes_out / 1e6, s);
  return 0;
}

}  // namespace tl::cli
