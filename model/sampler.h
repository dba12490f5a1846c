// model/sampler.h — choosing the next token from logits.
//
// temperature 0: greedy argmax, ties to the lowest id (torch.argmax). Otherwise, as Hugging Face's
// generate(do_sample=True) does it: logits / temperature, keep the top_k largest (0: all), keep the
// smallest set of most likely tokens whose probability reaches top_p (1: all), softmax, draw.
// Draws come from a 64-bit Mersenne Twister seeded with `seed`, so a seed reproduces a run.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace tl {

struct SamplingParams {
  float temperature = 0.0f;
  int top_k = 0;
  float top_p = 1.0f;
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p) : p_(p), rng_(p.seed) {}
  int sample(const float* logits, int vocab);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<int> order_;
  std::vector<double> probs_;
};

int argmax(const float* logits, int n);

}  // namespace tl
