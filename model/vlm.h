// model/vlm.h — the whole TinyLLaVA pipeline, as model.chat() runs it:
//   prompt -> chat template -> ids with -200 for the image           (tokenizer/chat.h)
//   pixels -> SigLIP features -> connector -> image rows            (siglip.h, projector.h)
//   token embeddings with the image rows spliced in at the -200      (this file)
//   OpenELM prefill -> logits of the last position -> sample, decode step by step with the KV cache
//   until EOS or max_new_tokens                                       (openelm.h, sampler.h)
// Every stage's output is kept in a Trace, which `tinyllava dump` writes out and the tests compare
// with the PyTorch reference.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/openelm.h"
#include "model/sampler.h"
#include "tokenizer/tokenizer.h"
#include "weights/loader.h"

namespace tl {

struct Request {
  std::string prompt;
  bool raw = false;              // true: the prompt is used as is (no chat template)
  const Tensor* pixels = nullptr;  // [3, S, S] preprocessed image, or null for a text-only prompt
  int max_new_tokens = 512;
  bool ignore_eos = false;       // keep generating past EOS (benchmarks)
  bool keep_stages = true;       // copy the features and connector rows into the Trace (GPU runs: a
                                 // device-to-host copy; benchmarks turn it off)
  SamplingParams sampling;
};

struct Trace {
  OwnedTensor features;       // (N, Dv) selected SigLIP hidden state (image requests with keep_stages), CPU
  OwnedTensor image_rows;     // (N, D) connector output, CPU
  std::vector<int> input_ids;  // with -200 where the image goes
  int64_t prompt_positions = 0;  // sequence length after the splice
  std::vector<float> logits;   // (V) at the last prompt position
  std::vector<int> tokens;     // generated, EOS included when reached
  double vision_s = 0, projector_s = 0, prefill_s = 0, decode_s = 0;
  size_t kv_cache_bytes = 0;
  int graph_instantiations = 0;  // CUDA graph decode: how often a step graph had to be instantiated
};

class Vlm {
 public:
  // Loads and validates a checkpoint directory: config.json, safetensors, tokenizer.model. With
  // Device::CUDA the weights are uploaded once, in their stored dtype, and every stage after image
  // preprocessing runs on the GPU.
  explicit Vlm(const std::string& dir, Device device = Device::CPU);

  // Runs a request. on_token is called with each generated id as soon as it is chosen; returning false
  // stops generation. Bad requests (image/prompt mismatch, over-long prompts) are refused up front.
  void run(const Request& request, Trace& trace, const std::function<bool(int)>& on_token = nullptr);

  std::vector<int> prompt_ids(const std::string& prompt, bool raw, bool with_image) const;
  const LoadedModel& model() const { return model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  Device device() const { return device_; }
  // CUDA greedy decoding: each step (embed, forward, argmax) replayed as one CUDA graph (default on).
  void set_cuda_graphs(bool on) { cuda_graphs_ = on; }

 private:
  LoadedModel model_;
  Device device_;
  std::vector<Buffer> device_weights_;  // the uploaded weights (Device::CUDA), viewed by model_.weights
  bool cuda_graphs_ = true;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<OpenElm> text_;
};

}  // namespace tl
