// model/cli/synth.cpp — `tinyllava synth -o DIR`: write a random-weight checkpoint (weights/synth.h).
#include <cstdio>

#include "model/cli/args.h"
#include "model/cli/commands.h"
#include "tensor/clock.h"
#include "tensor/error.h"
#include "weights/synth.h"

namespace tl::cli {

int cmd_synth(int argc, char** argv) {
  Args args("synth", "Write a random-weight checkpoint in the exact Hugging Face layout.",
            {{"-o", "--output", "DIR", "directory to write (created if missing; written beside it, then renamed)"},
             {nullptr, "--force", nullptr, "replace DIR when it is not empty"},
             {nullptr, "--config", "full|tiny|FILE", "model config: the real model's, a small one, or a config.json (default full)"},
             {nullptr, "--dtype", "f16|bf16|f32", "stored dtype (default f16, as the real checkpoint)"},
             {nullptr, "--seed", "N", "random seed (default 0); same seed, same file"},
             {nullptr, "--profile", "gaussian|trained", "weight statistics: N(0, 0.02), or with a trained model's "
                                                        "outlier channels, row scales and heavy tails (default gaussian)"},
             {nullptr, "--tokenizer", "PATH", "tokenizer.model to copy into the directory"},
             {nullptr, "--sparse", nullptr, "leave tensor data all-zero as a file hole (instant; for layout tests)"},
             {"-t", "--threads", "N", "generator threads (default: all cores)"}});
  if (!args.parse(argc, argv, 2)) return 0;

  SynthOptions opt;
  std::string out = args.required("--output");
  opt.config = args.str("--config", "full");
  std::string dtype = args.str("--dtype", "f16");
  if (dtype == "f16") opt.dtype = DType::F16;
  else if (dtype == "bf16") opt.dtype = DType::BF16;
  else if (dtype == "f32") opt.dtype = DType::F32;
  else fail_input("synth: --dtype: expected f16, bf16 or f32, got '%s'", dtype.c_str());
  opt.seed = static_cast<uint64_t>(args.integer("--seed", 0, 0, INT64_MAX));
  const std::string profile = args.str("--profile", "gaussian");
  if (profile == "trained") opt.profile = SynthProfile::Trained;
  else if (profile != "gaussian") fail_input("synth: --profile: expected gaussian or trained, got '%s'", profile.c_str());
  opt.tokenizer = args.str("--tokenizer");
  opt.sparse = args.has("--sparse");
  opt.threads = static_cast<int>(args.integer("--threads", 0, 0, 1024));
  opt.force = args.has("--force");

  const auto t0 = Clock::now();
  SynthReport r = synth_checkpoint(out, opt);
  const double s = seconds_since(t0);
  std::printf("wrote %s: %lld tensors, %lld parameters, %s, model.safetensors %llu bytes%s in %.1f s\n", out.c_str(),
              static_cast<long long>(r.tensors), static_cast<long long>(r.parameters), dtype_name(opt.dtype),
              static_cast<unsigned long long>(r.bytes), opt.sparse ? " (sparse, zero data)" : "", s);
  return 0;
}

}  // namespace tl::cli
