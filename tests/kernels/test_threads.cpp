// tests/kernels/test_threads.cpp — the worker pool: every index visited exactly once, for any n and
// team size; nested regions run inline; back-to-back regions (as a decode step issues ~100), teams of
// different sizes (the pool grows) and regions from two calling threads neither lose work nor hang.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "kernels/cpu/threads.h"

using namespace tl;

TEST(Threads, EveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    const cpu::Team team{threads};
    EXPECT_EQ(team.size(), threads);
    for (int64_t n : {1, 2, 3, 7, 64, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      cpu::parallel_for(team, n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[i]++;
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " n " << n << " i " << i;
    }
  }
  EXPECT_EQ(cpu::Team{}.size(), cpu::hardware_threads());
}

TEST(Threads, ManyBackToBackRegionsAndNesting) {
  const cpu::Team team{2};
  std::atomic<int64_t> sum{0};
  for (int r = 0; r < 20000; ++r)
    cpu::parallel_for(team, 4, [&](int64_t b, int64_t e) {
      cpu::parallel_for(team, 3, [&](int64_t b2, int64_t e2) { sum += (e - b) * (e2 - b2); });  // nested: inline
    });
  EXPECT_EQ(sum.load(), 20000 * 4 * 3);
}

// The spin-then-sleep hand-off (threads.cpp): regions separated by gaps shorter and longer than the
// spin budget, so workers and the caller go through both the polling and the sleeping path and the
// adaptive budget drops to 0 and grows back; with spinning off; with more workers than chunks (the
// idle ones must skip a region without running a stale job). Nothing may be lost or run twice.
TEST(Threads, SpinAndSleepHandOffsNeverLoseWork) {
  for (int threads : {2, 3}) {
    for (int spin : {0, 20, cpu::kDefaultSpinMicros}) {
      const cpu::Team team{threads, spin};
      std::atomic<int64_t> sum{0};
      int64_t expect = 0;
      for (int r = 0; r < 3000; ++r) {
        if (r % 97 == 0) std::this_thread::sleep_for(std::chrono::microseconds(spin + 300));  // everyone sleeps
        const int64_t n = 1 + r % 5;  // 1 chunk (inline), 2, 3, ... : sometimes fewer than the workers
        cpu::parallel_for(team, n, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) sum += i + 1;
        });
        expect += n * (n + 1) / 2;
      }
      EXPECT_EQ(sum.load(), expect) << threads << " threads, spin " << spin;
    }
  }
}

// A slow chunk on a worker: the caller's spin runs out and it must sleep until the worker wakes it.
TEST(Threads, CallerSleepsThroughALongChunk) {
  std::atomic<int> done{0};
  for (int r = 0; r < 20; ++r)
    cpu::parallel_for(cpu::Team{2}, 2, [&](int64_t b, int64_t) {
      if (b == 1) std::this_thread::sleep_for(std::chrono::microseconds(2 * cpu::kDefaultSpinMicros + 500));
      done++;
    });
  EXPECT_EQ(done.load(), 40);
}

// Two engines in one process: regions issued from two threads at once, with different teams, each
// complete exactly (the pool runs one region at a time and grows for the larger team).
TEST(Threads, RegionsFromTwoCallingThreads) {
  std::atomic<int64_t> sums[2] = {{0}, {0}};
  auto caller = [&](int which, int threads) {
    for (int r = 0; r < 2000; ++r)
      cpu::parallel_for(cpu::Team{threads}, 10, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) sums[which] += i;
      });
  };
  std::thread a(caller, 0, 2), b(caller, 1, 3);
  a.join();
  b.join();
  EXPECT_EQ(sums[0].load(), 2000 * 45);
  EXPECT_EQ(sums[1].load(), 2000 * 45);
}
