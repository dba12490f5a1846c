// model/generate.h — one question, start to finish: what `tinyllava run`, `dump` and `bench` do, composed
// from the engine's stages (engine.h, session.h), with every stage's output kept in a Trace that
// `dump` writes out and the tests compare with the PyTorch reference.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "model/session.h"

namespace tl {

struct Request {
  std::string prompt;
  bool raw = false;                // true: the prompt is used as is (no chat template)
  std::string system = kSystemPrompt;  // the template's system prompt
  const Tensor* pixels = nullptr;  // [3, S, S] preprocessed image, or null
  ImagePtr image;                  // or the image's rows already computed (--image-embeds)
  bool keep_stages = true;         // copy the features and connector rows into the Trace
  bool reuse_image = true;         // pixels encoded before by this engine come from its cache
  GenerateParams generate;
};

struct Trace {
  OwnedTensor features;        // (N, Dv) selected SigLIP hidden state (image requests with keep_stages), CPU
  OwnedTensor image_rows;      // (N, D) connector output, CPU
  std::vector<int> input_ids;  // with -200 where the image goes
  int64_t prompt_positions = 0;  // sequence length after the splice
  std::vector<float> logits;   // (V) at the last prompt position
  std::vector<int> tokens;     // generated, EOS included when reached
  FinishReason finish = FinishReason::Length;
  double vision_s = 0, projector_s = 0, prefill_s = 0, decode_s = 0;
  size_t kv_cache_bytes = 0;
  int graph_instantiations = 0;  // CUDA graph decode: how often a step graph had to be instantiated
};

// Encodes the image (if any), builds the prompt, prefills and generates. on_token is called with each
// generated id as soon as it is chosen (with beam search: each id of the best beam, at the end);
// returning false stops generation. A prompt whose positions
// plus max_new_tokens exceed the context is refused up front.
void run(Engine& engine, const Request& request, Trace& trace, const std::function<bool(int)>& on_token = nullptr);

}  // namespace tl
