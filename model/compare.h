// model/compare.h — how far one checkpoint's outputs are from another's on the same input: what
// llama.cpp's `perplexity --kl-divergence` reports, for an image question (`tinyllava compare`).
//
// A (the reference, e.g. the float checkpoint) answers the question greedily for N tokens; both models
// are then fed exactly that sequence (teacher forcing: the prompt, then A's tokens one by one) and at
// each of the N positions the two next-token distributions are compared:
//   KL(P_A ‖ P_B) = Σ_v P_A(v)·(log P_A(v) − log P_B(v)), in F64 from each model's F32 logits;
//   top-1 agreement: argmax P_B = argmax P_A.
// B also answers on its own (greedy, its own tokens fed back): greedy agreement is how many of its N
// tokens equal A's, position by position, and the first position where they part.
// With an image, the SigLIP features of both: ‖f_B − f_A‖ / ‖f_A‖ (Frobenius) and max |f_B − f_A| /
// max |f_A|.
//
// Per position also the logit error max_v |l_B(v) − l_A(v)| / max_v |l_A(v)| and A's top-2 margin on the
// same scale. Where the margin exceeds twice the error, B's argmax is A's; so B's own greedy tokens, fed
// back, must equal A's at least up to the first position where it does not (`greedy_assured`).
#pragma once

#include <cstdint>
#include <vector>

#include "model/engine.h"
#include "model/session.h"

namespace tl {

struct ComparePosition {
  double kl = 0;            // KL(P_A ‖ P_B), nats
  double logit_error = 0;   // max |l_B − l_A| / max |l_A|
  double margin = 0;        // A's top-1 minus top-2 logit, / max |l_A|
  bool top1_same = false;
};

struct CompareResult {
  int64_t positions = 0;              // N, the teacher-forced positions compared
  std::vector<ComparePosition> at;    // per teacher-forced position
  double logit_error_max = 0;         // the largest of at[i].logit_error
  double kl_mean = 0, kl_max = 0, kl_p99 = 0;
  double top1 = 0;                    // fraction of positions whose argmax agrees
  int64_t greedy_same = 0;            // of B's N free-running tokens, equal to A's at the same position
  int64_t greedy_first_diff = -1;     // first position where they differ; -1: none
  int64_t greedy_assured = 0;         // leading positions whose margin exceeds twice the error
  double vision_rel_fro = -1, vision_rel_max = -1;  // -1 without an image
};

// Both engines must share the tokenizer and the prompt's positions; `pixels` may be null (text only).
// `text` is the prompt as the model reads it (chat_prompt applied by the caller).
CompareResult compare_models(Engine& a, Engine& b, const std::string& text, const Tensor* pixels, int positions);

// KL(P ‖ Q) of the softmax distributions of two logit rows (n values each), in F64.
double kl_divergence(const float* logits_p, const float* logits_q, int64_t n);

}  // namespace tl
