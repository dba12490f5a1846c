// tests/kernels/test_threads.cpp — the worker pool: every index visited exactly once, for any n and
// thread count; nested regions run inline; back-to-back regions (as a decode step issues ~100) and
// pool rebuilds neither lose work nor hang.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
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

// The spin-then-sleep hand-off (threads.cpp): regions separated by gaps shorter and longer than the
// spin budget, so workers and the caller go through both the polling and the sleeping path and the
// adaptive budget drops to 0 and grows back; with spinning off; with more workers than chunks (the
// idle ones must skip a region without running a stale job). Nothing may be lost or run twice.
TEST(Threads, SpinAndSleepHandOffsNeverLoseWork) {
  for (int threads : {2, 3}) {
    cpu::set_num_threads(threads);
    for (int spin : {0, 20, cpu::kDefaultSpinMicros}) {
      cpu::set_spin_us(spin);
      EXPECT_EQ(cpu::spin_us(), spin);
      std::atomic<int64_t> sum{0};
      int64_t expect = 0;
      for (int r = 0; r < 3000; ++r) {
        if (r % 97 == 0) std::this_thread::sleep_for(std::chrono::microseconds(spin + 300));  // everyone sleeps
        const int64_t n = 1 + r % 5;  // 1 chunk (inline), 2, 3, ... : sometimes fewer than the workers
        cpu::parallel_for(n, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) sum += i + 1;
        });
        expect += n * (n + 1) / 2;
      }
      EXPECT_EQ(sum.load(), expect) << threads << " threads, spin " << spin;
    }
  }
  cpu::set_spin_us(-1);
  EXPECT_EQ(cpu::spin_us(), cpu::kDefaultSpinMicros);
  cpu::set_num_threads(0);
}

// A slow chunk on a worker: the caller's spin runs out and it must sleep until the worker wakes it.
TEST(Threads, CallerSleepsThroughALongChunk) {
  cpu::set_num_threads(2);
  std::atomic<int> done{0};
  for (int r = 0; r < 20; ++r)
    cpu::parallel_for(2, [&](int64_t b, int64_t) {
      if (b == 1) std::this_thread::sleep_for(std::chrono::microseconds(2 * cpu::kDefaultSpinMicros + 500));
      done++;
    });
  EXPECT_EQ(done.load(), 40);
  cpu::set_num_threads(0);
}
