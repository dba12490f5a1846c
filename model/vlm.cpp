// model/vlm.cpp — prompt, image, splice, prefill and generation (contract in vlm.h).
#include "model/vlm.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "model/projector.h"
#include "model/siglip.h"
#include "tensor/error.h"
#include "tokenizer/chat.h"
#include "weights/file.h"

namespace tl {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Vlm::Vlm(const std::string& dir) : model_(load_model(dir)) {
  tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::load(join_path(dir, "tokenizer.model")));
  const int V = model_.config.text.vocab_size;
  if (tokenizer_->vocab_size() != V)
    fail_input("%s: %d pieces, but config.json has vocab_size %d (expected equal)",
               join_path(dir, "tokenizer.model").c_str(), tokenizer_->vocab_size(), V);
  text_ = std::make_unique<OpenElm>(model_.weights.text, model_.config.text);
}

std::vector<int> Vlm::prompt_ids(const std::string& prompt, bool raw, bool with_image) const {
  return tl::prompt_ids(*tokenizer_, raw ? prompt : chat_prompt(prompt, with_image));
}

void Vlm::run(const Request& req, Trace& trace, const std::function<bool(int)>& on_token) {
  const VlmConfig& cfg = model_.config;
  const int64_t D = cfg.text.model_dim, V = cfg.text.vocab_size;

  // Prompt ids and their agreement with the image.
  trace.input_ids = prompt_ids(req.prompt, req.raw, req.pixels != nullptr);
  const int64_t markers = std::count(trace.input_ids.begin(), trace.input_ids.end(), kImageToken);
  if (req.pixels && markers == 0)
    fail_input("prompt: an image was given but the prompt has no <image> marker (with --raw, write <image> where it goes)");
  if (!req.pixels && markers > 0)
    fail_input("prompt: contains <image> but no image was given (use -i IMAGE or --pixels FILE.npy)");
  if (markers > 1) fail_input("prompt: %lld <image> markers (expected one: the model takes one image)", static_cast<long long>(markers));
  const int64_t image_rows = req.pixels ? cfg.image_tokens() : 0;
  const int64_t T = static_cast<int64_t>(trace.input_ids.size()) - markers + image_rows;
  const int64_t context = cfg.text.max_context_length;
  if (req.max_new_tokens < 0) fail_input("-n: expected a non-negative number of tokens, got %d", req.max_new_tokens);
  if (T + req.max_new_tokens > context)
    fail_input("prompt: %lld positions (%lld text tokens + %lld image tokens) + %d new tokens exceed the %lld-token "
               "context (shorten the prompt or lower -n)", static_cast<long long>(T),
               static_cast<long long>(T - image_rows), static_cast<long long>(image_rows), req.max_new_tokens,
               static_cast<long long>(context));
  trace.prompt_positions = T;

  // Image -> rows of the text model's width.
  if (req.pixels) {
    auto t0 = std::chrono::steady_clock::now();
    trace.features = siglip_features(model_.weights.vision, cfg, *req.pixels);
    trace.vision_s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    trace.image_rows = project_features(model_.weights.connector, trace.features.tensor);
    trace.projector_s = seconds_since(t0);
  }

  // Embeddings: text ids embedded, the image rows in place of -200.
  OwnedTensor x = OwnedTensor::empty(DType::F32, {T, D});
  int64_t row = 0;
  for (int id : trace.input_ids) {
    if (id == kImageToken) {
      std::memcpy(x.tensor.ptr<float>() + row * D, trace.image_rows.tensor.data, trace.image_rows.tensor.nbytes());
      row += image_rows;
    } else {
      Tensor r = x.tensor.rows(row, row + 1);
      text_->embed(&id, 1, r);
      ++row;
    }
  }

  // Prefill, then one token at a time through the same forward pass.
  KvCache cache(cfg.text, T + std::max(req.max_new_tokens, 1));
  trace.kv_cache_bytes = cache.bytes();
  trace.logits.assign(static_cast<size_t>(V), 0.0f);
  Tensor logits = Tensor::view(trace.logits.data(), DType::F32, {V});
  auto t0 = std::chrono::steady_clock::now();
  text_->forward(x.tensor, cache, logits);
  trace.prefill_s = seconds_since(t0);

  Sampler sampler(req.sampling);
  std::vector<float> step_logits(trace.logits);
  Tensor step_view = Tensor::view(step_logits.data(), DType::F32, {V});
  OwnedTensor emb = OwnedTensor::empty(DType::F32, {1, D});
  trace.tokens.clear();
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < req.max_new_tokens; ++i) {
    const int id = sampler.sample(step_logits.data(), static_cast<int>(V));
    trace.tokens.push_back(id);
    const bool more = !on_token || on_token(id);
    if ((id == cfg.text.eos_token_id && !req.ignore_eos) || !more || i + 1 == req.max_new_tokens) break;
    text_->embed(&id, 1, emb.tensor);
    text_->forward(emb.tensor, cache, step_view);
  }
  trace.decode_s = seconds_since(t0);
}

}  // namespace tl
