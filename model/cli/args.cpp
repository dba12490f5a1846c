// model/cli/args.cpp — option parsing for the tinyllava subcommands.
#include "model/cli/args.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tensor/buffer.h"
#include "tensor/error.h"

namespace tl::cli {

Args::Args(std::string command, std::string summary, std::vector<Option> options)
    : command_(std::move(command)), summary_(std::move(summary)), options_(std::move(options)) {}

const Option* Args::find(const std::string& token) const {
  for (const Option& o : options_)
    if ((o.short_name && token == o.short_name) || token == o.long_name) return &o;
  return nullptr;
}

bool Args::parse(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string tok = argv[i];
    if (tok == "-h" || tok == "--help") {
      std::fputs(usage().c_str(), stdout);
      return false;
    }
    std::string value;
    bool inline_value = false;
    size_t eq = tok.find('=');
    if (tok.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = tok.substr(eq + 1);
      tok = tok.substr(0, eq);
      inline_value = true;
    }
    const Option* o = find(tok);
    if (!o) fail_input("%s: unknown option '%s' (see 'tinyllava %s --help')", command_.c_str(), tok.c_str(), command_.c_str());
    if (o->value_name) {
      if (!inline_value) {
        if (i + 1 >= argc) fail_input("%s: option %s needs a value (%s)", command_.c_str(), o->long_name, o->value_name);
        value = argv[++i];
      }
    } else if (inline_value) {
      fail_input("%s: option %s takes no value", command_.c_str(), o->long_name);
    }
    values_[o->long_name] = value;
  }
  return true;
}

bool Args::has(const char* long_name) const { return values_.count(long_name) != 0; }

std::string Args::str(const char* long_name, const std::string& def) const {
  auto it = values_.find(long_name);
  return it == values_.end() ? def : it->second;
}

std::string Args::required(const char* long_name) const {
  if (!has(long_name)) fail_input("%s: option %s is required (see 'tinyllava %s --help')", command_.c_str(), long_name, command_.c_str());
  return str(long_name);
}

int64_t Args::integer(const char* long_name, int64_t def, int64_t min, int64_t max) const {
  if (!has(long_name)) return def;
  std::string s = str(long_name);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno == ERANGE || v < min || v > max)
    fail_input("%s: %s: expected an integer in [%lld, %lld], got '%s'", command_.c_str(), long_name,
               static_cast<long long>(min), static_cast<long long>(max), s.c_str());
  return v;
}

double Args::number(const char* long_name, double def, double min, double max) const {
  if (!has(long_name)) return def;
  std::string s = str(long_name);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(v) || v < min || v > max)
    fail_input("%s: %s: expected a number in [%g, %g], got '%s'", command_.c_str(), long_name, min, max, s.c_str());
  return v;
}

std::string Args::usage() const {
  std::string u = "usage: tinyllava " + command_ + " [options]\n" + summary_ + "\n\noptions:\n";
  for (const Option& o : options_) {
    std::string names = o.short_name ? std::string(o.short_name) + ", " + o.long_name : std::string("    ") + o.long_name;
    if (o.value_name) names += std::string(" ") + o.value_name;
    char line[512];
    std::snprintf(line, sizeof line, "  %-28s %s\n", names.c_str(), o.help);
    u += line;
  }
  return u;
}

Device device_option(const Args& args) {
  const std::string d = args.str("--device", "cpu");
  if (d == "cpu") return Device::CPU;
  if (d != "cuda") fail_input("--device: expected cpu or cuda, got '%s'", d.c_str());
#if !TINYLLAVA_HAS_CUDA
  fail_input("--device cuda: this binary was built without CUDA (rebuild with nvcc installed, -DTINYLLAVA_CUDA=ON)");
#endif
  if (!cuda_available()) fail_input("--device cuda: no CUDA device is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES)");
  return Device::CUDA;
}

}  // namespace tl::cli
