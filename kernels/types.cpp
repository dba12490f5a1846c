// kernels/types.cpp — RopeTable (contract in types.h).
#include "kernels/types.h"

#include <atomic>
#include <cmath>

namespace tl::ops {

RopeTable RopeTable::make(int head_dim, double base, int64_t positions) {
  static std::atomic<uint64_t> serials{0};
  RopeTable t;
  t.head_dim = head_dim;
  t.positions = positions;
  t.serial = ++serials;
  const int half = head_dim / 2;
  // OpenELMRotaryEmbedding: inv_freq = 1 / base ** (arange(0, Dh, 2).float() / Dh), all in fp32;
  // angle = fp32(position) * inv_freq.
  std::vector<float> inv_freq(half);
  for (int j = 0; j < half; ++j) {
    float e = static_cast<float>(2 * j) / static_cast<float>(head_dim);
    inv_freq[j] = 1.0f / std::pow(static_cast<float>(base), e);
  }
  t.cos.resize(static_cast<size_t>(positions * half));
  t.sin.resize(static_cast<size_t>(positions * half));
  for (int64_t p = 0; p < positions; ++p)
    for (int j = 0; j < half; ++j) {
      float angle = static_cast<float>(p) * inv_freq[j];
      t.cos[p * half + j] = std::cos(angle);
      t.sin[p * half + j] = std::sin(angle);
    }
  return t;
}

}  // namespace tl::ops
