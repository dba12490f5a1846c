// model/cli/options.cpp — the shared engine options (contract in options.h).
#include "model/cli/options.h"

#include <cstdlib>

#include "tensor/error.h"

namespace tl::cli {

std::vector<Option> engine_option_list(bool precision) {
  std::vector<Option> o = {
      {"-t", "--threads", "N", "CPU threads (default: all)"},
      {nullptr, "--isa", "NAME", "CPU instruction-set ceiling: auto, generic, avx2, avx512, amx (default: $TINYLLAVA_ISA, else auto)"},
      {"-c", "--ctx", "N", "positions the KV cache may hold (default: the model's max_context_length)"},
      kDeviceOption,
  };
  if (precision)
    o.push_back({nullptr, "--precision", "f32|bf16|auto",
                 "CPU matrix products: exact f32, or bf16 (AVX512_BF16/AMX; faster, bounded error); auto = bf16 "
                 "where supported (default)"});
  return o;
}

EngineOptions engine_options(const Args& args, const char* command) {
  EngineOptions o;
  o.device = device_option(args);
  o.kernels.threads = static_cast<int>(args.integer("--threads", 0, 1, 1024));
  const char* env = std::getenv("TINYLLAVA_ISA");
  o.kernels.isa = args.str("--isa", env && *env ? env : "auto");
  o.context = args.integer("--ctx", 0, 1, int64_t{1} << 30);
  const std::string prec = args.str("--precision", "auto");
  if (prec != "f32" && prec != "bf16" && prec != "auto")
    fail_input("%s: --precision: expected f32, bf16 or auto, got '%s'", command, prec.c_str());
  if (prec == "bf16" && !ops::bf16_supported())
    fail_input("%s: --precision bf16: this CPU has no AVX512_BF16 (use f32 or auto)", command);
  o.kernels.precision = prec == "f32" ? ops::Precision::F32 : ops::Precision::BF16;
  ops::Context check(o.kernels);  // an unknown --isa fails here, before the checkpoint is read
  return o;
}

std::string engine_summary(const Engine& engine) {
  if (engine.device() == Device::CUDA) return "cuda";
  const ops::Context& k = engine.kernels();
  return strfmt("%d threads, %s, %s", k.threads(), k.isa_name(), ops::precision_name(k.precision()));
}

}  // namespace tl::cli
