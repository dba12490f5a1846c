// bench/bench_tokenizer.cpp — SentencePiece BPE encode throughput (MB/s of input text) on a large mixed
// text, and, when the sentencepiece C++ library is installed (Debian libsentencepiece-dev), the same
// text through it in the same run. Goal: not slower than the library.
//
// Model: the Llama-2 tokenizer from ../shared when present, else the committed small fixture model
// (both engines always use the same model). Text: the dev corpus lines (or a synthetic mix of prose,
// code, numbers and non-Latin scripts) repeated to 1 MiB, encoded as ONE string (the library's BPE
// also works on the whole string, so this is also the check against quadratic behaviour).
//
//   ./build/bench/bench_tokenizer --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <fstream>
#include <string>

#include "tokenizer/tokenizer.h"
#include "weights/file.h"
#include "weights/json.h"
#ifdef TINYLLAVA_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#endif

using namespace tl;

namespace {

const std::string kShared = TINYLLAVA_SHARED_DIR "/tokenizer/";

std::string model_path() {
  std::string llama = kShared + "llama2-tokenizer.model";
  return file_exists(llama) ? llama : std::string(TINYLLAVA_SOURCE_DIR "/tests/fixtures/tokenizer/small_bpe.model");
}

const std::string& mixed_text() {
  static std::string text = [] {
    std::string base;
    std::ifstream corpus(kShared + "dev_corpus.jsonl");
    std::string line;
    while (std::getline(corpus, line)) base += json::parse(line, "dev_corpus.jsonl").find("text")->as_string() + "\n";
    if (base.empty())
      base = "The quick brown fox jumps over the lazy dog. for (int i = 0; i < n; ++i) sum += x[i] * 3.14159;\n"
             "Größe, naïve café — 日本語のテキスト, 中文文本, 한국어 텍스트, emoji 🙂🚀, numbers 1234567890.\n";
    std::string t;
    while (t.size() < (1u << 20)) t += base;
    t.resize(1u << 20);
    while (!t.empty() && (static_cast<unsigned char>(t.back()) & 0xC0) == 0x80) t.pop_back();  // whole chars
    return t;
  }();
  return text;
}

void BM_Encode_tinyllava(benchmark::State& state) {
  Tokenizer tok = Tokenizer::load(model_path());
  const std::string& text = mixed_text();
  size_t n = 0;
  for (auto _ : state) {
    std::vector<int> ids = tok.encode(text);
    n = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n);
}
BENCHMARK(BM_Encode_tinyllava)->Unit(benchmark::kMillisecond);

#ifdef TINYLLAVA_HAVE_SENTENCEPIECE
void BM_Encode_sentencepiece_library(benchmark::State& state) {
  sentencepiece::SentencePieceProcessor sp;
  if (!sp.Load(model_path()).ok()) {
    state.SkipWithError("sentencepiece could not load the model");
    return;
  }
  const std::string& text = mixed_text();
  size_t n = 0;
  for (auto _ : state) {
    std::vector<int> ids;
    sp.Encode(text, &ids);
    n = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n);
}
BENCHMARK(BM_Encode_sentencepiece_library)->Unit(benchmark::kMillisecond);
#endif

void BM_Decode_tinyllava(benchmark::State& state) {
  Tokenizer tok = Tokenizer::load(model_path());
  std::vector<int> ids = tok.encode(mixed_text());
  for (auto _ : state) {
    std::string s = tok.decode(ids);
    benchmark::DoNotOptimize(s.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mixed_text().size()));
}
BENCHMARK(BM_Decode_tinyllava)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
