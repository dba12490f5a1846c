// kernels/cpu/threads.h — one persistent worker pool shared by all CPU kernels.
//
// parallel_for(n, fn) splits [0, n) into at most num_threads() contiguous chunks of at least `grain`
// items and runs fn(begin, end) for each, on the pool's workers and the calling thread, returning
// when all are done. A parallel_for issued from inside another runs serially on the caller (no
// oversubscription). Workers sleep on a condition variable between jobs.
#pragma once

#include <cstdint>
#include <functional>

namespace tl::cpu {

void set_num_threads(int n);  // n <= 0: all hardware threads
int num_threads();
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain = 1);

}  // namespace tl::cpu
