// model/compare.cpp — teacher-forced comparison of two checkpoints (contract in compare.h).
#include "model/compare.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace tl {

namespace {

// log-softmax of n logits, in F64.
std::vector<double> log_softmax(const float* x, int64_t n) {
  const double m = *std::max_element(x, x + n);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(static_cast<double>(x[i]) - m);
  const double lse = m + std::log(s);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] - lse;
  return out;
}

int argmax(const float* x, int64_t n) { return static_cast<int>(std::max_element(x, x + n) - x); }

// B's logits against A's at one position.
ComparePosition compare_logits(const float* la, const float* lb, int64_t n) {
  ComparePosition p;
  double max_a = 0, diff = 0, top2 = -INFINITY;
  int64_t best = 0;  // A's argmax (the first on ties, as argmax())
  for (int64_t i = 0; i < n; ++i) {
    const double a = la[i];
    max_a = std::max(max_a, std::fabs(a));
    diff = std::max(diff, std::fabs(static_cast<double>(lb[i]) - a));
    if (i > 0 && a > la[best]) top2 = la[best], best = i;
    else if (i > 0 && a > top2) top2 = a;
  }
  const double scale = std::max(max_a, 1e-30);
  p.kl = kl_divergence(la, lb, n);
  p.logit_error = diff / scale;
  p.margin = n > 1 ? (la[best] - top2) / scale : INFINITY;
  p.top1_same = argmax(lb, n) == best;
  return p;
}

// Relative Frobenius and max-abs differences of two equally shaped F32 tensors.
void feature_error(const Tensor& fa, const Tensor& fb, CompareResult& r) {
  double num = 0, den = 0, dmax = 0, amax = 0;
  for (int64_t i = 0; i < fa.numel(); ++i) {
    const double a = fa.ptr<float>()[i], d = fb.ptr<float>()[i] - a;
    num += d * d;
    den += a * a;
    dmax = std::max(dmax, std::fabs(d));
    amax = std::max(amax, std::fabs(a));
  }
  r.vision_rel_fro = std::sqrt(num / std::max(den, 1e-300));
  r.vision_rel_max = dmax / std::max(amax, 1e-300);
}

std::vector<int> greedy(Session& s, int n) {
  GenerateParams g;
  g.max_new_tokens = n;
  g.ignore_eos = true;
  return s.generate(g).tokens;
}

}  // namespace

double kl_divergence(const float* logits_p, const float* logits_q, int64_t n) {
  const std::vector<double> lp = log_softmax(logits_p, n), lq = log_softmax(logits_q, n);
  double kl = 0;
  for (int64_t i = 0; i < n; ++i) kl += std::exp(lp[i]) * (lp[i] - lq[i]);
  return std::max(kl, 0.0);
}

CompareResult compare_models(Engine& a, Engine& b, const std::string& text, const Tensor* pixels, int positions) {
  const int64_t V = a.config().text.vocab_size;
  if (b.config().text.vocab_size != V)
    fail_input("compare: vocab sizes differ (%lld and %lld)", static_cast<long long>(V),
               static_cast<long long>(b.config().text.vocab_size));
  if (positions < 1) fail_input("compare: -n %d (expected at least 1 position)", positions);
  CompareResult r;
  ImagePtr ia = pixels ? a.encode_image(*pixels, /*keep_features=*/true, /*reuse=*/false) : nullptr;
  ImagePtr ib = pixels ? b.encode_image(*pixels, true, false) : nullptr;
  if (pixels) feature_error(ia->features.tensor, ib->features.tensor, r);
  const Prompt pa = make_prompt(a, text, ia ? std::vector<ImagePtr>{ia} : std::vector<ImagePtr>{});
  const Prompt pb = make_prompt(b, text, ib ? std::vector<ImagePtr>{ib} : std::vector<ImagePtr>{});
  Session sa(a), sb(b);
  if (sa.positions(pa) + positions > std::min(a.context_length(), b.context_length()))
    fail_input("compare: %lld prompt positions + %d compared exceed the context",
               static_cast<long long>(sa.positions(pa)), positions);
  sa.prefill(pa);
  sb.prefill(pb);
  std::vector<int> forced;  // A's greedy tokens
  for (int i = 0; i < positions; ++i) {
    r.at.push_back(compare_logits(sa.logits(), sb.logits(), V));
    const int ta = argmax(sa.logits(), V);
    forced.push_back(ta);
    if (i + 1 < positions) {
      sa.decode_step(ta);
      sb.decode_step(ta);
    }
  }
  Session free_b(b);
  free_b.prefill(pb);
  const std::vector<int> own = greedy(free_b, positions);
  for (size_t i = 0; i < own.size() && i < forced.size(); ++i) {
    if (own[i] == forced[i]) ++r.greedy_same;
    else if (r.greedy_first_diff < 0) r.greedy_first_diff = static_cast<int64_t>(i);
  }
  r.positions = positions;
  std::vector<double> kls;
  int64_t agree = 0;
  bool assured = true;
  for (const ComparePosition& p : r.at) {
    kls.push_back(p.kl);
    agree += p.top1_same;
    r.logit_error_max = std::max(r.logit_error_max, p.logit_error);
    assured = assured && p.margin > 2 * p.logit_error;
    r.greedy_assured += assured;
  }
  double sum = 0;
  for (double k : kls) sum += k;
  r.kl_mean = sum / kls.size();
  std::sort(kls.begin(), kls.end());
  r.kl_max = kls.back();
  r.kl_p99 = kls[std::min(kls.size() - 1, static_cast<size_t>(0.99 * kls.size()))];
  r.top1 = static_cast<double>(agree) / positions;
  return r;
}

}  // namespace tl
