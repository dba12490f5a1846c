// tests/kernels/test_threads.cpp — the worker pool: every index visited exactly once, for any n and
// thread count; nested regions run inline; back-to-back regions (as a decode step issues ~100) and
// pool rebuilds neither lose work nor hang.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "kernels/cpu/threads.h"

using namespace tl;

TEST(Threads, EveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    cpu::set_num_threads(threads);
    EXPECT_EQ(cpu::num_threads(), threads);
    for (int64_t n : {1, 2, 3, 7, 64, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      cpu::parallel_for(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[i]++;
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " n " << n << " i " << i;
    }
  }
  cpu::set_num_threads(0);
}

TEST(Threads, ManyBackToBackRegionsAndNesting) {
  cpu::set_num_threads(2);
  std::atomic<int64_t> sum{0};
  for (int r = 0; r < 20000; ++r)
    cpu::parallel_for(4, [&](int64_t b, int64_t e) {
      cpu::parallel_for(3, [&](int64_t b2, int64_t e2) { sum += (e - b) * (e2 - b2); });  // nested: inline
    });
  EXPECT_EQ(sum.load(), 20000 * 4 * 3);
  cpu::set_num_threads(0);
}
