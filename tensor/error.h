// tensor/error.h — the one way library code reports a failure.
//
// Library code never exits and never prints: it throws tl::Error carrying one line that names what
// failed, in the form "<file or field>: <what> (expected X, got Y)". Only main() catches it, prints
// "tinyllava: error: <message>" and exits with 2 (bad input: a file, field or argument the user gave)
// or 1 (internal: a broken invariant, out of memory, a failing device).
//
// TL_CHECK is always on (never compiled out like assert) and is for invariants of our own code;
// anything that input can violate is reported with fail_input() and a message for the user.
#pragma once

#include <stdexcept>
#include <string>

namespace tl {

enum class ErrorKind { BadInput, Internal };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// printf-style formatting into a std::string.
std::string strfmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

[[noreturn]] void fail_input(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] void fail_internal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace tl

#define TL_CHECK(cond)                                                                   \
  do {                                                                                   \
    if (!(cond)) ::tl::fail_internal("%s:%d: check failed: %s", __FILE__, __LINE__, #cond); \
  } while (0)
