// kernels/cpu/ladder.h — a kernel ladder's rung: a name, the one idea it adds over the rung before,
// and the whole operation on all threads (gemm.h and attention.h list theirs).
#pragma once

#include <string>
#include <vector>

namespace tl::cpu {

template <typename Fn>
struct Rung {
  std::string name;
  const char* idea;  // what changed from the rung before
  Fn run;            // the whole operation, on all threads
};

// The rung called `name`, or nullptr when the ladder has none (this CPU cannot run it).
template <typename Fn>
const Rung<Fn>* find_rung(const std::vector<Rung<Fn>>& ladder, const std::string& name) {
  for (const Rung<Fn>& r : ladder)
    if (r.name == name) return &r;
  return nullptr;
}

}  // namespace tl::cpu
