// model/beam.h — beam search, as Hugging Face generate(num_beams=N, do_sample=False) runs it
// (transformers 4.39: GenerationMixin._beam_search with BeamSearchScorer and BeamHypotheses).
//
// From the prompt's last logits, num_beams running beams are extended one token at a time: each beam's
// log_softmax plus its running score, the best 2·num_beams (beam, token) pairs over all beams, taken in
// order: a pair ending in EOS becomes a finished hypothesis if it ranks among the first num_beams (its
// tokens without EOS, score / generated_len^length_penalty, generated_len counting the EOS), any other
// pair continues as one of the next num_beams running beams. The search ends when num_beams hypotheses
// are kept and, with early_stopping false, none can be beaten any more (worst kept >= best candidate /
// current_len^lp), or after max_new_tokens (the running beams then join the hypotheses at their
// length). The answer is the best hypothesis, with EOS appended when it is shorter than max_new_tokens.
// Each beam has its own KV cache (a fork of the prompt's session; a beam continued by several pairs is
// copied). Tested against HF's own generate on fixtures (tests/fixtures/beams, tools/make_beam_fixtures.py).
#pragma once

#include <functional>
#include <vector>

#include "model/session.h"

namespace tl {

struct BeamParams {
  int num_beams = 2;
  int max_new_tokens = 512;
  float length_penalty = 1.0f;
  bool early_stopping = false;
  int eos_token_id = -1;  // < 0: the config's
};

struct BeamResult {
  std::vector<int> tokens;  // the best sequence (EOS included when it ended there)
  double score = 0;         // its HF sequence_score
  FinishReason finish = FinishReason::Length;
  double decode_s = 0;
};

// `session` must have just been prefilled with the prompt; it is left as it was (the beams are forks).
BeamResult beam_search(Session& session, const BeamParams& params);

}  // namespace tl
