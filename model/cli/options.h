// model/cli/options.h — the options every model-running command shares, turned into one EngineOptions.
//
//   -t/--threads N   CPU threads (default: all)
//   --isa NAME       CPU instruction-set ceiling: auto, generic, avx2, avx512, amx (default: the
//                    TINYLLAVA_ISA environment variable, else auto; read here and nowhere else)
//   --precision P    f32, bf16 or auto (bf16 where the CPU has a bf16 GEMM)
//   -c/--ctx N       positions a conversation may hold (default: the model's max_context_length)
//   --device D       cpu or cuda
#pragma once

#include <vector>

#include "model/cli/args.h"
#include "model/engine.h"

namespace tl::cli {

// The shared options; `precision` adds --precision (dump has none: it is always exact F32).
std::vector<Option> engine_option_list(bool precision);
// EngineOptions from them; `command` names the command in errors.
EngineOptions engine_options(const Args& args, const char* command);
// "2 threads, avx512, bf16" or "cuda": what a timing line says the engine ran on.
std::string engine_summary(const Engine& engine);

}  // namespace tl::cli
