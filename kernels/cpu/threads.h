// kernels/cpu/threads.h — one persistent worker pool shared by all CPU kernels.
//
// parallel_for(team, n, fn) splits [0, n) into at most team.size() contiguous chunks of at least
// `grain` items and runs fn(begin, end) for each, on the pool's workers and the calling thread,
// returning when all are done. A parallel_for issued from inside another runs serially on the caller
// (no oversubscription). The pool is a process resource, not a mode: it grows to the largest team
// asked for, and how many threads a region uses is the caller's Team, passed with every call. Regions
// from different threads (two engines in one process) run one after the other, each on its own team.
//
// Hand-off: a decode step issues ~120 short regions (tens to hundreds of µs each) separated by µs of
// serial work. Waking a sleeping thread costs 25-60 µs on the 2-vCPU KVM guest we measure on (the idle
// vCPU halts; bench_decode's Handoff), against ~0.5 µs for a thread that is polling, so between
// regions the workers, and the caller waiting for them, poll an atomic for up to Team::spin_us µs before
// they sleep on a condition variable. The budget adapts (threads.cpp): after two waits close together
// that the polling would not have covered (the machine oversubscribed) a thread sleeps at once for a
// while; one such wait alone (a pause) changes nothing. An idle pool burns at most spin_us of CPU per
// thread before it sleeps.
#pragma once

#include <cstdint>
#include <functional>

namespace tl::cpu {

constexpr int kDefaultSpinMicros = 100;

int hardware_threads();

// Who runs a parallel region: `threads` participants (<= 0: all hardware threads) that poll up to
// spin_us µs for work between regions (< 0: kDefaultSpinMicros).
struct Team {
  int threads = 0;
  int spin_us = kDefaultSpinMicros;
  int size() const { return threads > 0 ? threads : hardware_threads(); }
};

void parallel_for(const Team& team, int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain = 1);

}  // namespace tl::cpu
