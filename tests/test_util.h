// tests/test_util.h — helpers shared by the test suites: scratch directories, file writing, running
// the tinyllava binary and capturing its exit status and output, the message of a refused input, each
// test's own random stream.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "tensor/error.h"

namespace tl::test {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents when the object dies.
class ScratchDir {
 public:
  ScratchDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tinyllava-test-XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    if (p) path_ = p;
  }
  ~ScratchDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The message of the input error `f()` throws (it must be one: ErrorKind::BadInput), or "" if it
// returns.
template <typename F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    return e.what();
  }
  return "";
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

struct RunResult {
  int exit_code = -1;    // -1 when killed by a signal
  bool signaled = false;
  std::string out, err;
};

// Runs the tinyllava binary with `args` (shell words), capturing stdout and stderr.
inline RunResult run_tinyllava(const std::string& args, const std::string& scratch) {
  std::string out = scratch + "/.stdout", err = scratch + "/.stderr";
  std::string cmd = std::string("'") + TINYLLAVA_BIN + "' " + args + " >'" + out + "' 2>'" + err + "'";
  int status = std::system(cmd.c_str());
  RunResult r;
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
    // The shell reports a child killed by signal N as exit status 128 + N.
    r.signaled = r.exit_code > 128;
  } else {
    r.signaled = true;
  }
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

inline bool shared_dir_present() {
  return ::access(TINYLLAVA_SHARED_DIR "/MODEL_SPEC.md", R_OK) == 0;
}

// The running test's random stream, seeded from its full name (FNV-1a of "Suite.Name"): a test draws
// the same inputs whether it runs alone (--gtest_filter) or after others. Helpers fetch it once per
// call, not per value.
inline std::mt19937& test_rng() {
  static const ::testing::TestInfo* owner = nullptr;
  static bool seeded = false;
  static std::mt19937 rng;
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (!seeded || info != owner) {
    const std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "";
    uint32_t h = 2166136261u;
    for (unsigned char c : name) h = (h ^ c) * 16777619u;
    rng.seed(h);
    owner = info;
    seeded = true;
  }
  return rng;
}

// max |got - want| relative to max |want| over n values (the tests' error measure for float outputs).
inline double max_rel_error(const float* got, const float* want, size_t n) {
  double max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < n; ++i) {
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(got[i]) - want[i]));
  }
  return max_diff / std::max(max_ref, 1e-30);
}

}  // namespace tl::test
