// tools/cuda_emu/emu_test.h — what the emulated suites (test_gemm.cpp, test_attention.cpp) share:
// guarded "device" buffers, random data, the tally of checks with its one-line summary, and the
// schedules every suite runs under.
//
// A suite binary runs all its cases once per schedule (default: both; --schedule=forward:eager or
// reverse:lazy picks one), prints a line for each failing check (every check with --verbose) and ends
// with one summary line; it exits 1 if any check failed. The emulator itself exits 2 on a CUDA
// semantics violation (cuda_emu: error: ...).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cuda_emu.h"
#include "tensor/buffer.h"
#include "tensor/error.h"

namespace emu_test {

// Device memory stand-in: 256-byte aligned like cudaMalloc, NaN bytes until written, and followed
// (within the alignment slack) by an inaccessible page, so reading far past the end faults.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t rounded = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
    mapped_ = (rounded + page_ - 1) / page_ * page_ + page_;
    base_ = static_cast<char*>(mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (base_ == MAP_FAILED) emu::fail("cannot map %zu bytes of device memory", bytes);
    mprotect(base_ + mapped_ - page_, page_, PROT_NONE);
    data_ = base_ + mapped_ - page_ - rounded;
    std::memset(data_, 0xff, rounded);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : base_(o.base_), data_(o.data_), mapped_(o.mapped_), page_(o.page_) {
    o.base_ = nullptr;
  }
  ~DeviceBuffer() {
    if (base_) munmap(base_, mapped_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(DeviceBuffer&&) = delete;

  template <typename T = void>
  T* at(size_t byte_offset = 0) const {
    return reinterpret_cast<T*>(data_ + byte_offset);
  }

 private:
  char* base_ = nullptr;
  char* data_ = nullptr;
  size_t mapped_ = 0, page_ = 0;
};

inline std::mt19937 g_rng;

inline tl::OwnedTensor random_f32(const std::vector<int64_t>& shape, float scale = 1.0f) {
  tl::OwnedTensor t = tl::OwnedTensor::empty(tl::DType::F32, shape);
  std::normal_distribution<float> nd(0.0f, scale);
  for (int64_t i = 0; i < t.tensor.numel(); ++i) t.tensor.ptr<float>()[i] = nd(g_rng);
  return t;
}

// max |got - want| / max |want| over n values (infinite when got has a NaN).
inline double max_rel(const float* got, const float* want, int64_t n) {
  double m = 0, d = 0;
  for (int64_t i = 0; i < n; ++i) {
    m = std::max(m, std::fabs(static_cast<double>(want[i])));
    d = std::max(d, std::isnan(got[i]) ? INFINITY : std::fabs(static_cast<double>(got[i]) - want[i]));
  }
  return d / std::max(m, 1e-30);
}

// Whether any of n values is NaN: outputs start as NaN bytes, so this finds outputs never written.
inline bool has_nan(const float* p, int64_t n) {
  return std::any_of(p, p + n, [](float v) { return std::isnan(v); });
}

struct Schedule {
  emu::Order order;
  emu::Copies copies;
};

// Counts checks; remembers the worst error relative to its tolerance.
class Tally {
 public:
  Tally(const char* suite, bool verbose) : suite_(suite), verbose_(verbose) {}

  void check(const std::string& what, double rel, double tol) {
    const double seconds = lap();
    ++checks_;
    const bool ok = rel <= tol;
    if (ok) ++passed_;
    if (checks_ == 1 || rel / tol > worst_ratio_) {
      worst_ratio_ = rel / tol;
      worst_ = what;
      worst_rel_ = rel;
      worst_tol_ = tol;
    }
    if (!ok || verbose_)
      std::printf("%s [%s:%s] %s: rel err %.2e (tol %.0e), %.2f s\n", ok ? "ok  " : "FAIL", emu::order_name(),
                  emu::copies_name(), what.c_str(), rel, tol, seconds);
    std::fflush(stdout);
  }

  // A call the launcher must refuse with tl::Error.
  template <class F>
  void refuses(const std::string& what, F&& call) {
    ++checks_;
    bool refused = false;
    try {
      call();
    } catch (const tl::Error&) {
      refused = true;
    }
    if (refused) ++passed_;
    if (!refused || verbose_) std::printf("%s refuses %s, %.2f s\n", refused ? "ok  " : "FAIL", what.c_str(), lap());
  }

  // The summary line; returns the exit status.
  int finish(double seconds, const std::string& schedules) const {
    std::printf("%s: %d/%d checks passed under %s; worst %.2e (tol %.0e, %.2f of it) at %s; %.1f s\n", suite_, passed_,
                checks_, schedules.c_str(), worst_rel_, worst_tol_, worst_ratio_, worst_.c_str(), seconds);
    return passed_ == checks_ && checks_ > 0 ? 0 : 1;
  }

 private:
  // Seconds since the previous check (for --verbose: which cases are slow).
  double lap() {
    const auto now = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    return s;
  }

  const char* suite_;
  bool verbose_;
  int checks_ = 0, passed_ = 0;
  double worst_ratio_ = 0, worst_rel_ = 0, worst_tol_ = 1;
  std::string worst_ = "nothing";
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// Parses --verbose and --schedule=ORDER:COPIES (repeatable), runs `suite` once per schedule with the
// random generator reseeded (same data each time), prints the summary. Returns main's exit status.
template <class Suite>
int run_suite(const char* name, int argc, char** argv, Suite&& suite) {
  bool verbose = false;
  std::vector<Schedule> schedules;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--verbose") {
      verbose = true;
    } else if (a.rfind("--schedule=", 0) == 0) {
      const std::string s = a.substr(11);
      const auto colon = s.find(':');
      const std::string order = s.substr(0, colon), copies = colon == std::string::npos ? "lazy" : s.substr(colon + 1);
      if ((order != "forward" && order != "reverse") || (copies != "lazy" && copies != "eager")) {
        std::fprintf(stderr, "%s: bad %s (want --schedule=forward|reverse[:lazy|eager])\n", argv[0], a.c_str());
        return 2;
      }
      schedules.push_back({order == "forward" ? emu::Order::Forward : emu::Order::Reverse,
                           copies == "lazy" ? emu::Copies::Lazy : emu::Copies::Eager});
    } else {
      std::fprintf(stderr, "usage: %s [--verbose] [--schedule=forward|reverse[:lazy|eager]]...\n", argv[0]);
      return 2;
    }
  }
  // Between them the two default schedules expose a missing barrier in either direction, a copy read
  // before its wait_group (lazy), and a stage refilled while others still read it (eager).
  if (schedules.empty()) schedules = {{emu::Order::Forward, emu::Copies::Eager}, {emu::Order::Reverse, emu::Copies::Lazy}};

  Tally tally(name, verbose);
  std::string names;
  const auto t0 = std::chrono::steady_clock::now();
  for (const Schedule& s : schedules) {
    emu::configure(s.order, s.copies);
    g_rng.seed(4321);
    names += (names.empty() ? "" : " + ") + std::string(emu::order_name()) + ":" + emu::copies_name();
    try {
      suite(tally);
    } catch (const tl::Error& e) {
      std::printf("FAIL %s: unexpected error: %s\n", name, e.what());
      return 1;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return tally.finish(seconds, names);
}

}  // namespace emu_test
