// weights/synth.h — random-weight checkpoints in the exact Hugging Face layout.
//
// The real 1.78 GB weights cannot be downloaded everywhere; speed and memory do not depend on weight
// values, and parity tests need small models anyway. synth_checkpoint() writes a directory that
// load_model() and the original PyTorch code both accept:
//   config.json             the real model's config ("full"), a small one ("tiny"), or a given file
//   model.safetensors       every tensor the real file has (checkpoint_layout), streamed to disk
//   generation_config.json  as the real repository's
//   tokenizer.model         copied from `tokenizer` when given
// Values (the gaussian profile; the trained one below reshapes them): linear weights and embeddings
// N(0, 0.02), norm scales 1 + N(0, 0.02), biases N(0, 0.02).
// They are a pure function of (seed, tensor name, element index), so a checkpoint is reproducible
// whatever the thread count, and renaming or adding a tensor leaves the others unchanged.
#pragma once

#include <cstdint>
#include <string>

#include "tensor/dtype.h"

namespace tl {

// How weight values are drawn. Gaussian: linear weights N(0, 0.02) (what speed measurements need).
// Trained: the statistics that make quantization of trained transformers hard, reproduced on top of
// it (README "Quantized checkpoints" cites where each comes from): per-output-row scales lognormal
// (σ 0.3), 0.5 % of input columns ×8 (outlier channels), 1 % of values ×4 (heavy tails); norm
// weights lognormal around 1 (σ 0.5) with 0.2 % of them ×15.
enum class SynthProfile { Gaussian, Trained };

struct SynthOptions {
  std::string config = "full";  // "full", "tiny", or a path to a config.json
  DType dtype = DType::F16;
  SynthProfile profile = SynthProfile::Gaussian;
  uint64_t seed = 0;
  std::string tokenizer;        // path of a tokenizer.model to copy, or empty
  bool sparse = false;          // leave all tensor data zero as a file hole (instant; for layout tests)
  int threads = 0;              // 0: all hardware threads
  bool force = false;           // replace a non-empty output directory (refused otherwise)
};

struct SynthReport {
  int64_t tensors = 0;
  int64_t parameters = 0;
  uint64_t bytes = 0;  // size of model.safetensors
};

SynthReport synth_checkpoint(const std::string& out_dir, const SynthOptions& options);

// The text of a built-in config.json: "full" (the real model's) or "tiny"; empty for other names.
std::string builtin_config(const std::string& name);

}  // namespace tl
