// model/generate.cpp — one question through the stages (contract in generate.h).
#include "model/generate.h"

#include "tensor/error.h"

namespace tl {

namespace {

ImagePtr request_image(Engine& engine, const Request& req, Trace& trace) {
  ImagePtr image = req.pixels ? engine.encode_image(*req.pixels, req.keep_stages, req.reuse_image) : req.image;
  if (!image) return nullptr;
  trace.vision_s = image->vision_s;
  trace.projector_s = image->projector_s;
  if (req.keep_stages) {
    if (image->features.tensor.data) trace.features = OwnedTensor::copy_of(image->features.tensor);
    trace.image_rows = OwnedTensor::copy_of(image->rows.tensor);
  }
  return image;
}

}  // namespace

void run(Engine& engine, const Request& req, Trace& trace, const std::function<bool(int)>& on_token) {
  ImagePtr image = request_image(engine, req, trace);
  Session session(engine, req.system);
  const std::string text = req.raw ? req.prompt : chat_prompt(req.system, {ChatTurn{req.prompt, image != nullptr, {}}});
  Prompt prompt = make_prompt(engine, text, image ? std::vector<ImagePtr>{image} : std::vector<ImagePtr>{});
  trace.input_ids = prompt.ids;
  trace.prompt_positions = session.positions(prompt);
  const int64_t T = trace.prompt_positions, context = engine.context_length();
  const int64_t image_rows = image ? engine.config().image_tokens() : 0;
  check_generate_params(req.generate);
  if (T + req.generate.max_new_tokens > context)
    fail_input("prompt: %lld positions (%lld text tokens + %lld image tokens) + %d new tokens exceed the %lld-token "
               "context (shorten the prompt or lower -n)", static_cast<long long>(T),
               static_cast<long long>(T - image_rows), static_cast<long long>(image_rows), req.generate.max_new_tokens,
               static_cast<long long>(context));

  session.prefill(prompt);
  const float* logits = session.logits();
  trace.logits.assign(logits, logits + engine.config().text.vocab_size);
  trace.prefill_s = session.last_prefill_s();
  Generation g = session.generate(req.generate, on_token);
  trace.tokens = g.tokens;
  trace.finish = g.finish;
  trace.decode_s = g.decode_s;
  trace.graph_instantiations = g.graph_instantiations;
  trace.kv_cache_bytes = session.kv_cache_bytes();
}

}  // namespace tl
