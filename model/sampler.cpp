// model/sampler.cpp — greedy and temperature/top-k/top-p sampling (contract in sampler.h).
#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tl {

int argmax(const float* logits, int n) {
  int best = 0;
  for (int i = 1; i < n && !std::isnan(logits[best]); ++i)
    if (logits[i] > logits[best] || std::isnan(logits[i])) best = i;  // first maximum wins; NaN is the largest (torch)
  return best;
}

int Sampler::sample(const float* logits, int vocab) {
  if (p_.temperature <= 0.0f) return argmax(logits, vocab);
  // Candidates sorted by logit, largest first (ties by id for determinism).
  order_.resize(vocab);
  std::iota(order_.begin(), order_.end(), 0);
  int keep = p_.top_k > 0 ? std::min(p_.top_k, vocab) : vocab;
  auto by_logit = [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(order_.begin(), order_.begin() + keep, order_.end(), by_logit);
  // Softmax of logit / temperature over the kept candidates.
  probs_.resize(keep);
  const double mx = logits[order_[0]] / static_cast<double>(p_.temperature);
  double sum = 0;
  for (int i = 0; i < keep; ++i) sum += probs_[i] = std::exp(logits[order_[i]] / static_cast<double>(p_.temperature) - mx);
  // Nucleus: the smallest prefix whose probability mass reaches top_p (at least one token).
  if (p_.top_p < 1.0f) {
    double cum = 0;
    int n = 0;
    while (n < keep) {
      cum += probs_[n++] / sum;
      if (cum >= p_.top_p) break;
    }
    keep = n;
    sum = 0;
    for (int i = 0; i < keep; ++i) sum += probs_[i];
  }
  double r = std::uniform_real_distribution<double>(0.0, sum)(rng_);
  for (int i = 0; i < keep; ++i) {
    r -= probs_[i];
    if (r < 0) return order_[i];
  }
  return order_[keep - 1];
}

}  // namespace tl
