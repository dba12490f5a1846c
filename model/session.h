// model/session.h — a conversation with its KV cache: the prefill, decode and sampling stages, and the
// turns of a chat on top of them.
//
// Stages (each callable on its own; `run`, `dump`, `bench`, `chat` and the C API compose them):
//   prefill(prompt)   makes the cache hold exactly `prompt` and computes the logits of its last
//                     position. What the cache already holds of it (the longest common prefix of ids
//                     and images with what was fed before) is kept; only the rest is computed.
//   decode_step(id)   feeds one token at the next position; its logits replace the last ones.
//   generate(params)  samples from the last logits, feeds the token, repeats: until EOS, max_new_tokens,
//                     the context's end, or on_token returning false (or, with num_beams > 1, runs beam
//                     search from the last logits: beam.h).
// Conversation: ask() appends a user turn, renders the whole conversation with the original template
// (tokenizer/chat.h), prefills it (so a second question about the same image prefills only what
// follows the cached prefix, and never re-encodes the image) and generates the answer, which joins the
// conversation as the original's CLI stores it (decoded, stripped). undo() drops the last turn, clear()
// all of them, fork() copies the session, cache included.
//
// Every session of an engine runs its stages on the engine's model: one stage at a time per engine.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/engine.h"
#include "model/sampler.h"
#include "tokenizer/chat.h"

namespace tl {

// A prompt as the model reads it: token ids with kImageToken where an image's rows go, and the images
// in marker order.
struct Prompt {
  std::vector<int> ids;
  std::vector<ImagePtr> images;
};

// Tokenizes `text` as tokenizer_image_token does, with `images` for its <image> markers (their counts
// must agree: an input error says which way they differ).
Prompt make_prompt(const Engine& engine, const std::string& text, std::vector<ImagePtr> images);

struct GenerateParams {
  int max_new_tokens = 512;
  SamplingParams sampling;     // temperature 0: greedy
  float repeat_penalty = 1.0f;  // HF RepetitionPenaltyLogitsProcessor over this answer's tokens (1: off)
  bool ignore_eos = false;      // keep generating past EOS (benchmarks)
  int num_beams = 1;            // > 1: beam search as HF generate(num_beams) (beam.h): greedy, no penalty;
                                // the tokens reach on_token when the search ends, and are not fed
};

// An input error for parameters no generation can run with (a negative max_new_tokens; sampling or a
// repeat penalty with beam search), raised before anything is computed.
void check_generate_params(const GenerateParams& params);

enum class FinishReason { Eos, Length, Context, Stopped };
const char* finish_reason_name(FinishReason r);  // "eos", "length", "context", "stopped"

struct Generation {
  std::vector<int> tokens;  // generated, EOS included when reached
  FinishReason finish = FinishReason::Length;
  double decode_s = 0;
  int graph_instantiations = 0;  // CUDA graph decoding: how often a step graph had to be instantiated
};

class Session {
 public:
  explicit Session(Engine& engine, std::string system = kSystemPrompt);
  Session(Session&&) = default;
  Session fork() const;

  // ---- stages ----
  void prefill(const Prompt& prompt);
  void decode_step(int id);
  // One decode step for several sessions of one engine in a single pass: sessions[i] is fed ids[i].
  // The projections read each weight once for all of them (a B-row GEMM instead of B GEMVs); each
  // session's logits equal its own decode_step's up to the GEMM's summation order for B rows (F32:
  // ~1e-6 relative; the bf16 path: within its stated bound). The sessions must be distinct.
  static void decode_batch(const std::vector<Session*>& sessions, const std::vector<int>& ids);
  // Logits [V] of the last position fed (host memory; valid until the next stage call).
  const float* logits();
  Generation generate(const GenerateParams& params, const std::function<bool(int)>& on_token = nullptr);

  // ---- conversation ----
  // Adds the question (with an image, or null) and generates the answer, streamed through on_token.
  // A question that does not fit the context is refused (input error) and leaves the session as it was.
  Generation ask(const std::string& question, ImagePtr image, const GenerateParams& params,
                 const std::function<bool(int)>& on_token = nullptr);
  bool undo();   // drops the last turn (question and answer); false when there is none
  void clear();  // no turns; the cache is emptied
  const std::vector<ChatTurn>& turns() const { return turns_; }
  Prompt conversation_prompt() const;  // the turns in the template (the last one unanswered or answered)

  // ---- state ----
  int64_t length() const { return cache_.length; }            // positions in the cache
  int64_t context_length() const { return engine_->context_length(); }
  int64_t vocab_size() const { return engine_->config().text.vocab_size; }
  int eos_id() const { return engine_->config().text.eos_token_id; }
  int64_t positions(const Prompt& p) const;                   // positions p occupies
  int64_t prefilled_positions() const { return prefilled_; }  // computed by prefill, all calls together
  double last_prefill_s() const { return prefill_s_; }
  size_t kv_cache_bytes() const { return cache_.bytes(); }
  DType kv_cache_dtype() const { return cache_.dtype; }      // Engine::kv_dtype()

 private:
  Session(const Session& other);  // fork()
  void reserve(int64_t positions);
  void forward(const Tensor& x);
  void embed_prompt(const Prompt& p, size_t first_id, size_t first_image, Tensor& x) const;
  Generation generate_on_device(const GenerateParams& params, const std::function<bool(int)>& on_token);
  Generation generate_beams(const GenerateParams& params, const std::function<bool(int)>& on_token);

  Engine* engine_;
  std::string system_;
  std::vector<ChatTurn> turns_;
  std::vector<ImagePtr> turn_images_;  // per turn (null: none)
  KvCache cache_;
  std::vector<int> fed_ids_;         // what the cache holds: ids (kImageToken for an image) ...
  std::vector<ImagePtr> fed_images_;  // ... and the images, in order
  OwnedTensor logits_;                // (V) on the engine's device
  std::vector<float> host_logits_;    // its copy, for a GPU engine
  bool host_fresh_ = false;
  int64_t prefilled_ = 0;
  double prefill_s_ = 0;
};

}  // namespace tl
