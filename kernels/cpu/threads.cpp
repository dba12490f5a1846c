// kernels/cpu/threads.cpp — the worker pool behind parallel_for (see threads.h).
//
// A region is published as one atomic word, `region_` = generation << 16 | chunks, so a worker always
// sees a generation with its own chunk count. Workers poll that word, and the caller (after running
// chunk 0) polls `pending_`, for up to a spin budget, then sleep on a condition variable. `job_` is
// written before the word is published and read only by that region's participants, which the caller
// waits for, so it cannot change under them. Going to sleep and waking up are Dekker pairs on seq_cst
// atomics, so no wake-up is lost:
//   worker:  sleepers_ += 1; re-check region_ (under mu_)      |  caller: publish region_; read sleepers_
//   caller:  caller_asleep_ = true; re-check pending_ (mu_)    |  worker: pending_ -= 1; read caller_asleep_
// at least one side of each pair sees the other's write, and the notify is sent under mu_.
//
// The spin budget adapts (SpinBudget): polling only pays while the other side is on a CPU. When the
// machine is oversubscribed (another process busy on one of 2 cores) the thread we wait for is often
// descheduled for milliseconds, and a poller holding its core keeps it out: a fixed 100 µs spin took
// decode from 21 to 15 tok/s there (1000 µs: 4 tok/s), while it took a quiet machine from 34 to 49.
// (An earlier pool that always spun 200 µs lost to sleeping for the same reason, bench/RESULTS.md.)
#include "kernels/cpu/threads.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tensor/arith.h"

namespace tl::cpu {

namespace {

using Clock = std::chrono::steady_clock;

thread_local bool t_in_parallel = false;

int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// One waiting thread's spin budget. After a successful spin it doubles (up to the team's spin_us); after
// a sleep it is reset from what the wait needed: spin_us when the awaited event came within spin_us
// of the start (a quiet machine, only a longer gap than the budget). A wait longer than that is a
// pause (the program between calls, or the host preempting the other vCPU for a moment) when it is
// alone, and the polling goes on; a second one within kWindow waits means the other side keeps losing
// its CPU, and the next kCooldown waits sleep at once, as a plain pool does. Same-window A/B, decode
// tok/s with a busy loop on one of the 2 cores: 33 sleeping at once, 26-28 without the cooldown
// (budget back to spin_us() after every short wait), 32-34 with it. The first rule cooled down after
// any long wait: on a quiet machine such waits (one every one or two decode steps) then put
// a quarter of the step's regions behind a sleeping worker, 0.4-0.9 ms of start delay per step.
// Requiring two long waits within 16 (2026-11-30, high-bandwidth band, 200 steps, 3 rounds): quiet
// 62.6-64.6 -> 66.5-67.2 tok/s (worker start delay 0.39-0.93 -> 0.18-0.30 ms per step); with the busy
// loop 34.2-34.4 -> 34.9-35.5 (no cooldown at all: 29.4-29.8).
class SpinBudget {
 public:
  int64_t ns(int64_t max_ns) const { return cooldown_ > 0 ? 0 : std::min(ns_, max_ns); }
  void spun(int64_t max_ns) {
    ++waits_;
    ns_ = std::max<int64_t>(std::min(2 * ns_, max_ns), kMinGrowNs);
  }
  void slept(int64_t needed_ns, int64_t max_ns) {
    ++waits_;
    const bool long_wait = needed_ns > max_ns;
    const bool again = long_wait && waits_ - last_long_ <= kWindow;
    if (long_wait) last_long_ = waits_;
    if (cooldown_ > 0) {
      --cooldown_;
    } else if (again) {
      ns_ = 0;
      cooldown_ = kCooldown;
    } else {
      ns_ = max_ns;
    }
  }

 private:
  static constexpr int64_t kMinGrowNs = 1000;
  static constexpr int kCooldown = 64;  // waits (~half a decode step's regions)
  static constexpr int64_t kWindow = 16;  // waits: two long ones this close mean an oversubscribed machine
  int64_t ns_ = 0;
  int cooldown_ = 0;
  int64_t waits_ = 0, last_long_ = -kWindow - 1;
};

// Polls done() for up to budget_ns; true when done() was seen.
template <typename Done>
bool spin_until(Done done, int64_t start_ns, int64_t budget_ns) {
  if (done()) return true;
  if (budget_ns <= 0) return false;
  for (;;) {
    for (int i = 0; i < 32; ++i) {  // ~1 µs of polling between clock reads
      cpu_relax();
      if (done()) return true;
    }
    if (now_ns() - start_ns >= budget_ns) return done();
  }
}

class Pool {
 public:
  explicit Pool(int threads) : threads_(std::clamp(threads, 1, kMaxThreads)) {
    try {
      for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { work(i); });
    } catch (...) {  // the system refused a thread: stop and join the ones that started
      shut_down();
      throw;
    }
  }
  ~Pool() { shut_down(); }
  int threads() const { return threads_; }

  void run(int chunks, int64_t spin_ns, const std::function<void(int)>& chunk_fn) {
    job_ = &chunk_fn;
    spin_ns_.store(spin_ns, std::memory_order_relaxed);
    pending_.store(chunks - 1);  // chunk 0 runs here
    published_ns_.store(now_ns(), std::memory_order_relaxed);
    const uint64_t generation = (region_.load() >> 16) + 1;
    region_.store(generation << 16 | static_cast<uint64_t>(chunks));  // publishes job_ (seq_cst: see above)
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      wake_.notify_all();
    }
    t_in_parallel = true;
    chunk_fn(0);
    t_in_parallel = false;
    auto done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
    const int64_t start = now_ns();
    if (spin_until(done, start, caller_budget_.ns(spin_ns))) {
      caller_budget_.spun(spin_ns);
      return;
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      caller_asleep_.store(true);
      done_.wait(lock, done);
      caller_asleep_.store(false);
    }
    caller_budget_.slept(finished_ns_.load(std::memory_order_relaxed) - start, spin_ns);
  }

 private:
  void shut_down() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      region_.fetch_add(kGeneration);
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  void work(int index) {
    uint64_t seen = 0;  // the generation last run or skipped
    SpinBudget budget;
    t_in_parallel = true;
    for (;;) {
      auto fresh = [&] { return (region_.load(std::memory_order_acquire) >> 16) != seen; };
      const int64_t start = now_ns(), spin_ns = spin_ns_.load(std::memory_order_relaxed);  // the last region's team
      if (spin_until(fresh, start, budget.ns(spin_ns))) {
        budget.spun(spin_ns);
      } else {
        {
          std::unique_lock<std::mutex> lock(mu_);
          sleepers_.fetch_add(1);
          wake_.wait(lock, fresh);
          sleepers_.fetch_sub(1);
        }
        budget.slept(published_ns_.load(std::memory_order_relaxed) - start, spin_ns);
      }
      if (stop_) return;
      const uint64_t region = region_.load(std::memory_order_acquire);
      seen = region >> 16;
      if (index >= static_cast<int>(region & 0xffff)) continue;  // fewer chunks than workers this time
      (*job_)(index);
      finished_ns_.store(now_ns(), std::memory_order_relaxed);  // the last chunk's store is the one read
      if (pending_.fetch_sub(1) == 1 && caller_asleep_.load()) {
        std::lock_guard<std::mutex> lock(mu_);
        done_.notify_one();
      }
    }
  }

  static constexpr int kMaxThreads = 0xffff;  // chunks fit the low 16 bits of region_
  static constexpr uint64_t kGeneration = 1 << 16;
  int threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<bool> stop_{false};      // set with a last generation
  std::atomic<uint64_t> region_{0};    // generation << 16 | chunks
  std::atomic<int> pending_{0};        // chunks not yet finished by workers
  std::atomic<int> sleepers_{0};       // workers asleep on wake_ (or about to be)
  std::atomic<bool> caller_asleep_{false};
  // When the last region was published and when its last worker chunk finished (steady clock, ns):
  // what a thread that slept through the wait would have needed to spin (SpinBudget::slept).
  std::atomic<int64_t> published_ns_{0}, finished_ns_{0};
  std::atomic<int64_t> spin_ns_{0};  // the polling budget of the team that published the last region
  SpinBudget caller_budget_;
};

// The process's pool (a resource, like the heap): grown to the largest team asked for, never shrunk.
// run_mu serializes regions from different calling threads (the pool runs one region at a time).
std::mutex g_pool_mu, g_run_mu;
std::unique_ptr<Pool> g_pool;

}  // namespace

int hardware_threads() {
  static const int n = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return n;
}

void parallel_for(const Team& team, int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = std::min<int64_t>(team.size(), ceil_div(n, grain));
  if (chunks <= 1 || t_in_parallel) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> region(g_run_mu);
  Pool* p;
  {
    std::lock_guard<std::mutex> lock(g_pool_mu);
    if (!g_pool || g_pool->threads() < chunks) g_pool = std::make_unique<Pool>(static_cast<int>(chunks));
    p = g_pool.get();
  }
  const int64_t per = n / chunks, extra = n % chunks;
  const int64_t spin_ns = int64_t{1000} * (team.spin_us < 0 ? kDefaultSpinMicros : team.spin_us);
  p->run(static_cast<int>(chunks), spin_ns, [&](int c) {
    int64_t begin = c * per + std::min<int64_t>(c, extra);
    int64_t end = begin + per + (c < extra ? 1 : 0);
    fn(begin, end);
  });
}

}  // namespace tl::cpu
