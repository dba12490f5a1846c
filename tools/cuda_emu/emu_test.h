// tools/cuda_emu/emu_test.h — what the emulated suites (test_gemm.cpp, test_attention.cpp, test_ops.cpp)
// share: guarded "device" buffers, random data, the tally of checks with its one-line summary, and the
// schedules every suite runs under.
//
// A suite binary runs all its cases once per schedule (default: both; --schedule=forward:eager or
// reverse:lazy picks one), prints a line for each failing check (every check with --verbose) and ends
// with one summary line; it exits 1 if any check failed. The emulator itself exits 2 on a CUDA
// semantics violation (cuda_emu: error: ...).
#pragma once

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

// Device memory (emu::device_alloc): 256-byte aligned like cudaMalloc, NaN bytes until written, and
// followed (after the alignment slack, whose writes the tally reports) by an inaccessible page, so
// accessing far past the end faults.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : data_(static_cast<char*>(emu::device_alloc(bytes))) {}
  DeviceBuffer(DeviceBuffer&& o) noexcept : data_(o.data_) { o.data_ = nullptr; }
  ~DeviceBuffer() {
    if (data_) emu::device_free(data_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(DeviceBuffer&&) = delete;

  template <typename T = void>
  T* at(size_t byte_offset = 0) const {
    return reinterpret_cast<T*>(data_ + byte_offset);
  }

 private:
  char* data_ = nullptr;
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

  // Every check also fails when something wrote past the end of a device allocation since the last one
  // (emu::device_overrun), whatever its result.
  void check(const std::string& what, double rel, double tol) {
    const double seconds = lap();
    ++checks_;
    const std::string overrun = emu::device_overrun();
    const bool ok = rel <= tol && overrun.empty();
    if (ok) ++passed_;
    if (checks_ == 1 || rel / tol > worst_ratio_) {
      worst_ratio_ = rel / tol;
      worst_ = what;
      worst_rel_ = rel;
      worst_tol_ = tol;
    }
    if (!ok || verbose_)
      std::printf("%s [%s:%s] %s: rel err %.2e (tol %.0e)%s%s, %.2f s\n", ok ? "ok  " : "FAIL", emu::order_name(),
                  emu::copies_name(), what.c_str(), rel, tol, overrun.empty() ? "" : "; ", overrun.c_str(), seconds);
    std::fflush(stdout);
  }

  // A check with an exact answer (bit-identical output, an index, a count): pass or fail, no error size.
  void exact(const std::string& what, bool ok, std::string detail = "") {
    const double seconds = lap();
    ++checks_;
    const std::string overrun = emu::device_overrun();
    if (!overrun.empty()) {
      ok = false;
      detail += (detail.empty() ? "" : "; ") + overrun;
    }
    if (ok) ++passed_;
    if (!ok || verbose_)
      std::printf("%s [%s:%s] %s%s%s, %.2f s\n", ok ? "ok  " : "FAIL", emu::order_name(), emu::copies_name(),
                  what.c_str(), detail.empty() ? "" : ": ", detail.c_str(), seconds);
    std::fflush(stdout);
  }

  // A call the launcher must refuse with tl::Error.
  template <class F>
  void refuses(const std::string& what, F&& call) {
    ++checks_;
    bool refused = false;
    std::string message;
    try {
      call();
    } catch (const tl::Error& e) {
      refused = true;
      message = e.what();
    }
    const std::string overrun = emu::device_overrun();
    const bool ok = refused && overrun.empty();
    if (ok) ++passed_;
    if (!ok || verbose_)  // with the message: a refusal for the wrong reason shows
      std::printf("%s refuses %s%s%s%s%s, %.2f s\n", ok ? "ok  " : "FAIL", what.c_str(), refused ? ": " : "",
                  message.c_str(), overrun.empty() ? "" : "; ", overrun.c_str(), lap());
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
