// model/session.cpp — prefill with a cached prefix, decoding, sampling and chat turns (contract in
// session.h).
#include "model/session.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "model/beam.h"
#include "tensor/clock.h"
#include "tensor/error.h"

namespace tl {

namespace {

// HF RepetitionPenaltyLogitsProcessor: each distinct earlier token's logit divided by the penalty when
// positive, multiplied when negative.
void penalize(std::vector<float>& logits, const std::vector<int>& tokens, float penalty) {
  std::vector<int> seen(tokens);
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  for (int id : seen) {
    float& l = logits[static_cast<size_t>(id)];
    l = l < 0 ? l * penalty : l / penalty;
  }
}

// Why generation ends after token `id`, the i-th of this call (`more`: the caller's callback asked for
// more; `full`: the cache holds the whole context), or nothing when it goes on. In this order: EOS,
// a stop from the caller, max_new_tokens, the context.
std::optional<FinishReason> finish_after(int id, bool more, int i, const GenerateParams& p, int eos, bool full) {
  if (id == eos && !p.ignore_eos) return FinishReason::Eos;
  if (!more) return FinishReason::Stopped;
  if (i + 1 == p.max_new_tokens) return FinishReason::Length;
  if (full) return FinishReason::Context;
  return std::nullopt;
}

// The question's own text, as the template writes it (the marker goes in through ChatTurn::image).
void check_question(const std::string& question) {
  if (question.find(kImageMarker) != std::string::npos)
    fail_input("question: contains <image> (attach the image to the turn instead: -i, /image)");
}

}  // namespace

void check_generate_params(const GenerateParams& p) {
  if (p.max_new_tokens < 0) fail_input("-n: expected a non-negative number of tokens, got %d", p.max_new_tokens);
  if (p.num_beams > 1 && (p.sampling.temperature > 0 || p.repeat_penalty != 1.0f))
    fail_input("--beams: beam search here is deterministic (drop the temperature and the repeat penalty)");
}

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Eos: return "eos";
    case FinishReason::Length: return "length";
    case FinishReason::Context: return "context";
    case FinishReason::Stopped: return "stopped";
  }
  return "?";
}

Prompt make_prompt(const Engine& engine, const std::string& text, std::vector<ImagePtr> images) {
  Prompt p{prompt_ids(engine.tokenizer(), text), std::move(images)};
  const size_t markers = static_cast<size_t>(std::count(p.ids.begin(), p.ids.end(), kImageToken));
  if (markers < p.images.size())
    fail_input("prompt: %zu image(s) given but %zu <image> marker(s) (with --raw, write <image> where each goes)",
               p.images.size(), markers);
  if (markers > p.images.size())
    fail_input("prompt: %zu <image> marker(s) but %zu image(s) given (use -i IMAGE, --pixels or --image-embeds)",
               markers, p.images.size());
  return p;
}

Session::Session(Engine& engine, std::string system) : engine_(&engine), system_(std::move(system)) {
  logits_ = OwnedTensor::empty(DType::F32, {engine.config().text.vocab_size}, engine.device());
  cache_.dtype = engine.kv_dtype();
}

Session::Session(const Session& o)
    : engine_(o.engine_), system_(o.system_), turns_(o.turns_), turn_images_(o.turn_images_),
      cache_(o.cache_.clone()), fed_ids_(o.fed_ids_), fed_images_(o.fed_images_),
      logits_(OwnedTensor::empty(DType::F32, {engine_->config().text.vocab_size}, engine_->device())),
      prefilled_(o.prefilled_) {
  ops::copy(o.logits_.tensor, logits_.tensor);
}

Session Session::fork() const { return Session(*this); }

int64_t Session::positions(const Prompt& p) const {
  const int64_t markers = std::count(p.ids.begin(), p.ids.end(), kImageToken);
  return static_cast<int64_t>(p.ids.size()) - markers + markers * engine_->config().image_tokens();
}

void Session::reserve(int64_t n) {
  // Grow geometrically (a conversation appends), within the context.
  const int64_t want = std::min(context_length(), std::max(n, 2 * cache_.capacity));
  cache_.reserve(engine_->config().text, std::max(n, want), engine_->device());
}

void Session::forward(const Tensor& x) {
  engine_->text().forward(engine_->kernels(), x, cache_, logits_.tensor);
  host_fresh_ = false;
}

// x rows = the prompt's items from ids[first_id] (images from images[first_image]) on.
void Session::embed_prompt(const Prompt& p, size_t first_id, size_t first_image, Tensor& x) const {
  const int64_t N = engine_->config().image_tokens();
  int64_t row = 0;
  size_t image = first_image;
  for (size_t i = first_id; i < p.ids.size(); ++i) {
    if (p.ids[i] == kImageToken) {
      Tensor dst = x.rows(row, row + N);
      ops::copy(p.images[image++]->rows.tensor, dst);
      row += N;
    } else {
      Tensor dst = x.rows(row, row + 1);
      engine_->text().embed(engine_->kernels(), &p.ids[i], 1, dst);
      ++row;
    }
  }
}

void Session::prefill(const Prompt& p) {
  const int64_t N = engine_->config().image_tokens(), total = positions(p);
  if (p.ids.empty()) fail_input("prompt: no tokens");
  if (total > context_length())
    fail_input("prompt: %lld positions exceed the %lld-token context (shorten the prompt, /clear, or raise -c)",
               static_cast<long long>(total), static_cast<long long>(context_length()));
  // The longest prefix the cache already holds (an image counts only whole and with the same rows).
  size_t i = 0, image = 0;
  int64_t kept = 0;
  for (; i < p.ids.size() && i < fed_ids_.size() && p.ids[i] == fed_ids_[i]; ++i) {
    if (p.ids[i] != kImageToken) {
      ++kept;
      continue;
    }
    if (fed_images_[image]->hash != p.images[image]->hash) break;
    kept += N;
    ++image;
  }
  if (i == p.ids.size()) {  // all cached: recompute the last item for its logits
    --i;
    if (p.ids[i] == kImageToken) --image;
    kept -= p.ids[i] == kImageToken ? N : 1;
  }
  auto t0 = Clock::now();
  // The cache keeps the prefix; what it held past it is gone even if what follows throws.
  cache_.length = std::min(cache_.length, kept);
  fed_ids_.resize(i);
  fed_images_.resize(image);
  reserve(total);
  OwnedTensor x = OwnedTensor::empty(DType::F32, {total - kept, engine_->config().text.model_dim}, engine_->device());
  embed_prompt(p, i, image, x.tensor);
  forward(x.tensor);
  fed_ids_ = p.ids;  // only now does the cache hold all of it
  fed_images_ = p.images;
  logits();  // the host copy, inside the timing (a GPU engine waits for the prefill here)
  prefill_s_ = seconds_since(t0);
  prefilled_ += total - kept;
}

void Session::decode_step(int id) {
  if (id < 0 || id >= engine_->config().text.vocab_size) fail_internal("decode_step: token id %d out of range", id);
  if (length() >= context_length()) fail_internal("decode_step: the context is full");
  reserve(length() + 1);
  OwnedTensor x = OwnedTensor::empty(DType::F32, {1, engine_->config().text.model_dim}, engine_->device());
  engine_->text().embed(engine_->kernels(), &id, 1, x.tensor);
  forward(x.tensor);
  fed_ids_.push_back(id);
}

void Session::decode_batch(const std::vector<Session*>& sessions, const std::vector<int>& ids) {
  TL_CHECK(!sessions.empty() && sessions.size() == ids.size());
  if (sessions.size() == 1) return sessions[0]->decode_step(ids[0]);
  Engine& engine = *sessions[0]->engine_;
  const TextConfig& c = engine.config().text;
  const int64_t B = static_cast<int64_t>(sessions.size());
  std::vector<OpenElm::Segment> segments;
  for (size_t i = 0; i < sessions.size(); ++i) {
    Session& s = *sessions[i];
    TL_CHECK(s.engine_ == &engine);
    if (ids[i] < 0 || ids[i] >= c.vocab_size) fail_internal("decode_batch: token id %d out of range", ids[i]);
    if (s.length() >= s.context_length()) fail_internal("decode_batch: a session's context is full");
    s.reserve(s.length() + 1);
    for (const OpenElm::Segment& seen : segments) TL_CHECK(seen.cache != &s.cache_);
    segments.push_back({&s.cache_, 1});
  }
  OwnedTensor x = OwnedTensor::empty(DType::F32, {B, c.model_dim}, engine.device());
  engine.text().embed(engine.kernels(), ids.data(), B, x.tensor);
  OwnedTensor logits = OwnedTensor::empty(DType::F32, {B, c.vocab_size}, engine.device());
  engine.text().forward(engine.kernels(), x.tensor, segments, logits.tensor);
  for (int64_t i = 0; i < B; ++i) {
    Session& s = *sessions[static_cast<size_t>(i)];
    ops::copy(logits.tensor.rows(i, i + 1).reshape({c.vocab_size}), s.logits_.tensor);
    s.host_fresh_ = false;
    s.fed_ids_.push_back(ids[static_cast<size_t>(i)]);
  }
}

const float* Session::logits() {
  if (logits_.tensor.device == Device::CPU) return logits_.tensor.ptr<float>();
  if (!host_fresh_) {
    host_logits_.resize(static_cast<size_t>(logits_.tensor.numel()));
    cuda_copy_to_host(host_logits_.data(), logits_.tensor.data, logits_.tensor.nbytes());
    host_fresh_ = true;
  }
  return host_logits_.data();
}

Generation Session::generate(const GenerateParams& params, const std::function<bool(int)>& on_token) {
  check_generate_params(params);
  if (fed_ids_.empty()) fail_internal("generate: nothing prefilled");
  if (params.num_beams > 1) return generate_beams(params, on_token);
  const bool greedy = params.sampling.temperature <= 0.0f;
  if (engine_->device() == Device::CUDA && greedy && params.repeat_penalty == 1.0f && engine_->options().cuda_graphs)
    return generate_on_device(params, on_token);
  const int V = engine_->config().text.vocab_size, eos = engine_->config().text.eos_token_id;
  reserve(std::min(context_length(), length() + params.max_new_tokens));
  Generation g;
  Sampler sampler(params.sampling);
  std::vector<float> penalized;
  auto t0 = Clock::now();
  for (int i = 0; i < params.max_new_tokens; ++i) {
    const float* l = logits();
    if (params.repeat_penalty != 1.0f) {
      penalized.assign(l, l + V);
      penalize(penalized, g.tokens, params.repeat_penalty);
      l = penalized.data();
    }
    const int id = sampler.sample(l, V);
    g.tokens.push_back(id);
    const bool more = !on_token || on_token(id);
    if (const auto end = finish_after(id, more, i, params, eos, length() >= context_length())) {
      g.finish = *end;
      break;
    }
    decode_step(id);
  }
  ops::synchronize(engine_->device());
  g.decode_s = seconds_since(t0);
  return g;
}

Generation Session::generate_beams(const GenerateParams& params, const std::function<bool(int)>& on_token) {
  const BeamResult b = beam_search(*this, {params.num_beams, params.max_new_tokens, 1.0f, false, -1});
  Generation g;
  g.finish = b.finish;
  g.decode_s = b.decode_s;
  for (int id : b.tokens) {
    g.tokens.push_back(id);
    if (on_token && !on_token(id)) {
      g.finish = FinishReason::Stopped;
      break;
    }
  }
  return g;
}

// Greedy on the GPU: the id never leaves the device between embed, forward and argmax; each step is
// one CUDA graph launch, and only the id comes back (to stream it and test for EOS).
Generation Session::generate_on_device(const GenerateParams& params, const std::function<bool(int)>& on_token) {
  const TextConfig& c = engine_->config().text;
  reserve(std::min(context_length(), length() + params.max_new_tokens));  // no allocation inside a capture
  Generation g;
  auto t0 = Clock::now();
  int id = argmax(logits(), c.vocab_size);  // the first token: from the prefill's logits
  Buffer d_id(sizeof(int), Device::CUDA);
  int* dev_id = static_cast<int*>(d_id.data());
  OwnedTensor emb = OwnedTensor::empty(DType::F32, {1, c.model_dim}, Device::CUDA);
  int64_t max_heads = 1;
  for (const TextLayerConfig& l : c.layers) max_heads = std::max<int64_t>(max_heads, l.num_query_heads);
  ops::StepGraph graph(Device::CUDA);
  graph.prepare(cache_.capacity, max_heads, c.head_dim);
  auto step = [&] {
    ops::embed_device_id(engine_->text().token_embeddings(), dev_id, emb.tensor);
    engine_->text().forward(engine_->kernels(), emb.tensor, cache_, logits_.tensor);
    ops::argmax_to_device(logits_.tensor, dev_id);
  };
  for (int i = 0; i < params.max_new_tokens; ++i) {
    if (i > 0) cuda_copy_to_host(&id, dev_id, sizeof id);
    g.tokens.push_back(id);
    const bool more = !on_token || on_token(id);
    if (const auto end = finish_after(id, more, i, params, c.eos_token_id, length() >= context_length())) {
      g.finish = *end;
      break;
    }
    if (i == 0) {
      cuda_copy_to_device(dev_id, &id, sizeof id);
      step();  // the first step runs plainly: it sizes every buffer outside a capture
    } else {
      graph.run(step);
    }
    fed_ids_.push_back(id);
    host_fresh_ = false;
  }
  g.graph_instantiations = graph.instantiations();
  ops::synchronize(Device::CUDA);
  g.decode_s = seconds_since(t0);
  return g;
}

Prompt Session::conversation_prompt() const {
  Prompt p;
  p.ids = prompt_ids(engine_->tokenizer(), chat_prompt_chunks(system_, turns_));
  for (const ImagePtr& im : turn_images_)
    if (im) p.images.push_back(im);
  return p;
}

Generation Session::ask(const std::string& question, ImagePtr image, const GenerateParams& params,
                        const std::function<bool(int)>& on_token) {
  check_question(question);
  check_generate_params(params);
  turns_.push_back(ChatTurn{question, image != nullptr, std::nullopt});
  turn_images_.push_back(image);
  Generation g;
  try {
    prefill(conversation_prompt());
    g = generate(params, on_token);
  } catch (...) {  // the turn is not part of the conversation (the cache keeps what agrees)
    turns_.pop_back();
    turn_images_.pop_back();
    throw;
  }
  std::vector<int> answer(g.tokens);
  if (!answer.empty() && answer.back() == engine_->config().text.eos_token_id) answer.pop_back();
  std::string text = engine_->tokenizer().decode(answer, /*skip_special=*/true);
  const size_t b = text.find_first_not_of(" \t\n\r"), e = text.find_last_not_of(" \t\n\r");
  turns_.back().answer = b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
  return g;
}

bool Session::undo() {
  if (turns_.empty()) return false;
  turns_.pop_back();
  turn_images_.pop_back();
  return true;  // the cache keeps its prefix; the next prefill keeps what still agrees
}

void Session::clear() {
  turns_.clear();
  turn_images_.clear();
  fed_ids_.clear();
  fed_images_.clear();
  cache_.length = 0;
}

}  // namespace tl
