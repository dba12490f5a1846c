// model/cli/args.h — a small, strict command-line option parser for the tinyllava subcommands.
//
// Each subcommand declares its options; anything undeclared, a missing value, or a malformed number
// is a BadInput error naming the option. Values are given as "-m DIR", "--model DIR" or "--model=DIR".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace tl::cli {

struct Option {
  const char* short_name;  // "-m", or nullptr
  const char* long_name;   // "--model"
  const char* value_name;  // "DIR"; nullptr for a flag
  const char* help;
};

class Args {
 public:
  Args(std::string command, std::string summary, std::vector<Option> options);

  // Parses argv[first..argc); returns false if --help was given (usage already printed to stdout).
  bool parse(int argc, char** argv, int first);

  bool has(const char* long_name) const;
  std::string str(const char* long_name, const std::string& def = "") const;
  std::string required(const char* long_name) const;
  int64_t integer(const char* long_name, int64_t def, int64_t min, int64_t max) const;
  double number(const char* long_name, double def, double min, double max) const;

  std::string usage() const;

 private:
  const Option* find(const std::string& token) const;
  std::string command_, summary_;
  std::vector<Option> options_;
  std::map<std::string, std::string> values_;  // long name -> value ("" for flags)
};

// The --device option: "cpu" (default) or "cuda" (refused, naming the reason, when this binary has no
// CUDA backend or no GPU is visible).
constexpr Option kDeviceOption = {nullptr, "--device", "cpu|cuda",
                                  "where the model runs (default cpu; cuda: every stage after preprocessing on the GPU)"};
Device device_option(const Args& args);

}  // namespace tl::cli
