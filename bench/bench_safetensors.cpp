// bench/bench_safetensors.cpp — how long validating the real model's checkpoint header takes: the
// 614-tensor safetensors header of the full config (a sparse synth file: the data is a hole, never
// read) validated through the mapping, and the strict JSON reader alone on the same text.
// Reports header MB/s.
//
//   ./build/bench/bench_safetensors
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "weights/file.h"
#include "weights/json.h"
#include "weights/safetensors.h"
#include "weights/synth.h"

using namespace tl;

namespace {

// A full-size sparse checkpoint, made once, removed at exit.
struct FullCheckpoint {
  std::string dir;
  std::unique_ptr<MappedFile> file;
  uint64_t header_bytes = 0;
  FullCheckpoint() {
    char tmpl[] = "/tmp/tinyllava-bench-XXXXXX";
    dir = mkdtemp(tmpl);
    SynthOptions opt;
    opt.sparse = true;
    synth_checkpoint(dir, opt);
    file = std::make_unique<MappedFile>(dir + "/model.safetensors");
    for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | file->data()[i];
  }
  ~FullCheckpoint() {
    file.reset();
    std::system(("rm -rf '" + dir + "'").c_str());
  }
};

const FullCheckpoint& full() {
  static FullCheckpoint c;
  return c;
}

void BM_ValidateSafetensorsHeader(benchmark::State& state) {
  const FullCheckpoint& c = full();
  size_t tensors = 0;
  for (auto _ : state) {
    SafetensorsHeader h = parse_safetensors(c.file->data(), c.file->size(), "bench");
    tensors = h.tensors.size();
    benchmark::DoNotOptimize(h.tensors.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * c.header_bytes));
  state.counters["tensors"] = static_cast<double>(tensors);
}

void BM_ParseJsonOnly(benchmark::State& state) {
  const FullCheckpoint& c = full();
  std::string_view text(reinterpret_cast<const char*>(c.file->data() + 8), c.header_bytes);
  for (auto _ : state) {
    json::Value v = json::parse(text, "header");
    benchmark::DoNotOptimize(&v);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

}  // namespace

BENCHMARK(BM_ValidateSafetensorsHeader)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ParseJsonOnly)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
