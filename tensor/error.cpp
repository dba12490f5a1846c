// tensor/error.cpp — formatting helpers behind tl::Error.
#include "tensor/error.h"

#include <cstdarg>
#include <cstdio>

namespace tl {

static std::string vstrfmt(const char* fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n < 0) return fmt;
  std::string out(static_cast<size_t>(n), '\0');
  std::vsnprintf(out.data(), out.size() + 1, fmt, args);
  return out;
}

std::string strfmt(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::string s = vstrfmt(fmt, args);
  va_end(args);
  return s;
}

void fail_input(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::string s = vstrfmt(fmt, args);
  va_end(args);
  throw Error(ErrorKind::BadInput, s);
}

void fail_internal(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::string s = vstrfmt(fmt, args);
  va_end(args);
  throw Error(ErrorKind::Internal, s);
}

}  // namespace tl
