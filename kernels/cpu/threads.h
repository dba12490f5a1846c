// kernels/cpu/threads.h — one persistent worker pool shared by all CPU kernels.
//
// parallel_for(n, fn) splits [0, n) into at most num_threads() contiguous chunks of at least `grain`
// items and runs fn(begin, end) for each, on the pool's workers and the calling thread, returning
// when all are done. A parallel_for issued from inside another runs serially on the caller (no
// oversubscription).
//
// Hand-off: a decode step issues ~120 short regions (tens to hundreds of µs each) separated by µs of
// serial work. Waking a sleeping thread costs 25-60 µs on the 2-vCPU KVM guest we measure on (the idle
// vCPU halts; bench_decode's Handoff), against ~0.5 µs for a thread that is polling, so between
// regions the workers, and the caller waiting for them, poll an atomic for up to spin_us() µs before
// they sleep on a condition variable. The budget adapts (threads.cpp): after a wait the polling
// would not have covered (the machine oversubscribed, or the program idle) a thread sleeps at once
// for a while. An idle pool burns at most spin_us() of CPU per thread before it sleeps.
#pragma once

#include <cstdint>
#include <functional>

namespace tl::cpu {

void set_num_threads(int n);  // n <= 0: all hardware threads
int num_threads();
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain = 1);

// How long a thread polls for the next region (a worker) or for the workers to finish (the caller)
// before sleeping. 0: sleep at once (the pool before the spin; a loser kept for bench_decode).
constexpr int kDefaultSpinMicros = 100;
void set_spin_us(int us);  // < 0: kDefaultSpinMicros
int spin_us();

}  // namespace tl::cpu
