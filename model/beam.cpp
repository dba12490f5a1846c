// model/beam.cpp — beam search with HF's scoring and stopping rules (contract in beam.h).
#include "model/beam.h"

#include <algorithm>
#include <cmath>

#include "tensor/clock.h"
#include "tensor/error.h"

namespace tl {

namespace {

struct Beam {
  Session session;        // holds the prompt and `tokens` except the last one, whose logits it has
  std::vector<int> tokens;
  float score = 0;        // sum of the tokens' log-probabilities (float, as HF accumulates it)
};

struct Candidate {
  float score;
  int beam, token;
};

struct Hypothesis {
  double score;
  std::vector<int> tokens;
};

// BeamHypotheses: the num_beams best finished sequences.
class Hypotheses {
 public:
  Hypotheses(int n, float lp) : n_(n), lp_(lp) {}
  void add(const std::vector<int>& tokens, float sum_logprobs, int generated_len) {
    const double score = sum_logprobs / std::pow(static_cast<double>(generated_len), lp_);
    if (static_cast<int>(kept_.size()) < n_ || score > worst_) {
      kept_.push_back({score, tokens});
      if (static_cast<int>(kept_.size()) > n_) {
        auto w = std::min_element(kept_.begin(), kept_.end(), [](auto& a, auto& b) { return a.score < b.score; });
        kept_.erase(w);
        worst_ = std::min_element(kept_.begin(), kept_.end(), [](auto& a, auto& b) { return a.score < b.score; })->score;
      } else {
        worst_ = std::min(score, worst_);
      }
    }
  }
  bool done(float best_sum_logprobs, int cur_len, bool early_stopping) const {
    if (static_cast<int>(kept_.size()) < n_) return false;
    if (early_stopping) return true;
    return worst_ >= best_sum_logprobs / std::pow(static_cast<double>(cur_len), lp_);
  }
  // The best (the last added among equals, as Python's stable sort then pop() gives).
  const Hypothesis& best() const {
    const Hypothesis* b = &kept_.front();
    for (const Hypothesis& h : kept_)
      if (h.score >= b->score) b = &h;
    return *b;
  }

 private:
  int n_;
  float lp_;
  double worst_ = 1e9;
  std::vector<Hypothesis> kept_;
};

// log_softmax of the logits plus `score`, in float as torch computes it.
void add_log_probs(const float* logits, int V, float score, std::vector<float>& out) {
  const float m = *std::max_element(logits, logits + V);
  double sum = 0;
  for (int i = 0; i < V; ++i) sum += std::exp(static_cast<double>(logits[i] - m));
  const float lse = m + static_cast<float>(std::log(sum));
  out.resize(static_cast<size_t>(V));
  for (int i = 0; i < V; ++i) out[i] = (logits[i] - lse) + score;
}

// The best `k` (beam, token) pairs over all beams, best first.
std::vector<Candidate> top_candidates(std::vector<Beam>& beams, int V, int k) {
  std::vector<Candidate> all;
  std::vector<float> lp;
  for (size_t b = 0; b < beams.size(); ++b) {
    add_log_probs(beams[b].session.logits(), V, beams[b].score, lp);
    for (int t = 0; t < V; ++t) all.push_back({lp[t], static_cast<int>(b), t});
  }
  k = std::min<int>(k, static_cast<int>(all.size()));
  std::partial_sort(all.begin(), all.begin() + k, all.end(), [](const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score > b.score : (a.beam != b.beam ? a.beam < b.beam : a.token < b.token);
  });
  all.resize(static_cast<size_t>(k));
  return all;
}

// The next running beams from `picked` (beam, token) pairs: a beam's session moves to its first
// continuation and is forked for any further one; each then feeds its new token.
std::vector<Beam> advance(std::vector<Beam>& beams, const std::vector<Candidate>& picked) {
  std::vector<Beam> next;
  std::vector<bool> moved(beams.size(), false);
  std::vector<int> uses(beams.size(), 0);
  for (const Candidate& c : picked) ++uses[c.beam];
  for (const Candidate& c : picked) {
    Beam& src = beams[c.beam];
    const bool last_use = --uses[c.beam] == 0;
    std::vector<int> tokens = src.tokens;
    tokens.push_back(c.token);
    next.push_back(Beam{last_use && !moved[c.beam] ? std::move(src.session) : src.session.fork(), std::move(tokens), c.score});
    moved[c.beam] = moved[c.beam] || last_use;
    next.back().session.decode_step(c.token);
  }
  return next;
}

}  // namespace

BeamResult beam_search(Session& session, const BeamParams& p) {
  if (p.num_beams < 2) fail_input("--beams: %d (expected 2 or more; 1 is greedy decoding)", p.num_beams);
  if (p.max_new_tokens < 1) fail_input("-n: %d (beam search needs at least one new token)", p.max_new_tokens);
  const int V = static_cast<int>(session.vocab_size()), B = p.num_beams;
  const int eos = p.eos_token_id >= 0 ? p.eos_token_id : session.eos_id();
  if (session.length() + p.max_new_tokens > session.context_length())
    fail_input("prompt: %lld positions + %d new tokens exceed the %lld-token context", static_cast<long long>(session.length()),
               p.max_new_tokens, static_cast<long long>(session.context_length()));
  const auto t0 = Clock::now();
  std::vector<Beam> beams;
  beams.push_back(Beam{session.fork(), {}, 0.0f});  // the other initial beams score -1e9: never chosen
  Hypotheses hyps(B, p.length_penalty);
  bool done = false;
  int len = 0;
  while (!done && len < p.max_new_tokens) {
    const std::vector<Candidate> cand = top_candidates(beams, V, 2 * B);
    std::vector<Candidate> picked;
    for (size_t rank = 0; rank < cand.size() && static_cast<int>(picked.size()) < B; ++rank) {
      const Candidate& c = cand[rank];
      if (c.token != eos) picked.push_back(c);
      else if (static_cast<int>(rank) < B) hyps.add(beams[c.beam].tokens, c.score, len + 1);
    }
    done = hyps.done(cand.front().score, len + 1, p.early_stopping);
    ++len;
    if (done) break;
    if (len == p.max_new_tokens) {  // the running beams join the hypotheses at their length
      for (const Candidate& c : picked) {
        std::vector<int> tokens = beams[c.beam].tokens;
        tokens.push_back(c.token);
        hyps.add(tokens, c.score, len);
      }
      break;
    }
    beams = advance(beams, picked);
  }
  BeamResult r;
  const Hypothesis& best = hyps.best();
  r.tokens = best.tokens;
  r.score = best.score;
  r.finish = static_cast<int>(r.tokens.size()) < p.max_new_tokens ? FinishReason::Eos : FinishReason::Length;
  if (r.finish == FinishReason::Eos) r.tokens.push_back(eos);
  r.decode_s = seconds_since(t0);
  return r;
}

}  // namespace tl
