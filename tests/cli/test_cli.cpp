// tests/cli/test_cli.cpp — the tinyllava binary end to end: synth -> info round trips (tiny, and the
// full-size header), and every bad input answered with one "tinyllava: error: ..." line and exit 2,
// never a signal.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tensor/buffer.h"
#include "test_util.h"
#include "weights/json.h"

using tl::test::RunResult;
using tl::test::ScratchDir;
using tl::test::run_tinyllava;
using tl::test::write_file;

namespace {

// A bad-input failure: exit 2, not a signal, one line on stderr in the documented form.
void expect_bad_input(const RunResult& r, const std::string& fragment) {
  EXPECT_FALSE(r.signaled) << r.err;
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("tinyllava: error: ", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << "stderr: " << r.err;
}

}  // namespace

TEST(Cli, UsageAndUnknownCommandsOrOptions) {
  ScratchDir dir;
  EXPECT_EQ(run_tinyllava("", dir.path()).exit_code, 2);
  RunResult help = run_tinyllava("--help", dir.path());
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("synth"), std::string::npos);
  expect_bad_input(run_tinyllava("frobnicate", dir.path()), "unknown command 'frobnicate'");
  expect_bad_input(run_tinyllava("info", dir.path()), "option --model is required");
  expect_bad_input(run_tinyllava("info -m", dir.path()), "option --model needs a value");
  expect_bad_input(run_tinyllava("info --bogus", dir.path()), "unknown option '--bogus'");
  expect_bad_input(run_tinyllava("synth -o x --dtype f64", dir.path()), "--dtype: expected f16, bf16 or f32, got 'f64'");
  expect_bad_input(run_tinyllava("synth -o x --seed -3", dir.path()), "--seed: expected an integer");
  expect_bad_input(run_tinyllava("synth -o x --config nonexistent.json", dir.path()), "nonexistent.json: cannot open");
  EXPECT_EQ(run_tinyllava("info --help", dir.path()).exit_code, 0);
}

TEST(Cli, SynthTinyThenInfo) {
  ScratchDir dir;
  RunResult s = run_tinyllava("synth -o '" + dir.path() + "/m' --config tiny --seed 3", dir.path());
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_NE(s.out.find("tensors"), std::string::npos);
  RunResult i = run_tinyllava("info -m '" + dir.path() + "/m'", dir.path());
  ASSERT_EQ(i.exit_code, 0) << i.err;
  EXPECT_NE(i.out.find("tensors      102 (73 used, 29 unused)"), std::string::npos) << i.out;
  EXPECT_NE(i.out.find("dtypes       F16: 102"), std::string::npos) << i.out;
  EXPECT_NE(i.out.find("vision_tower._vision_tower.vision_model.encoder.layers.2.mlp.fc2.bias"), std::string::npos);
  EXPECT_NE(i.out.find("15 image tokens"), std::string::npos) << i.out;
}

TEST(Cli, SynthFullHeaderThenInfoReportsTheRealModel) {
  ScratchDir dir;
  RunResult s = run_tinyllava("synth -o '" + dir.path() + "/full' --config full --sparse", dir.path());
  ASSERT_EQ(s.exit_code, 0) << s.err;
  RunResult i = run_tinyllava("info -m '" + dir.path() + "/full'", dir.path());
  ASSERT_EQ(i.exit_code, 0) << i.err;
  EXPECT_NE(i.out.find("tensors      614 (585 used, 29 unused)"), std::string::npos) << i.out;
  EXPECT_NE(i.out.find("parameters   889536576 "), std::string::npos) << i.out;
  EXPECT_NE(i.out.find("bytes        1779073152 tensor data"), std::string::npos) << i.out;
  EXPECT_NE(i.out.find("   19   24    6  6144  4.00  [2304, 1536]   [1536, 1536]   [12288, 1536]  [1536, 6144]"),
            std::string::npos) << i.out;
  EXPECT_NE(i.out.find("728 image tokens"), std::string::npos);
}

TEST(Cli, MalformedCheckpointsAreRefusedNotCrashed) {
  ScratchDir dir;
  std::string m = dir / "m";
  ASSERT_EQ(run_tinyllava("synth -o '" + m + "' --config tiny --sparse", dir.path()).exit_code, 0);
  std::string info = "info -m '" + m + "'";

  write_file(m + "/model.safetensors", "");
  expect_bad_input(run_tinyllava(info, dir.path()), "model.safetensors: file is 0 bytes");
  write_file(m + "/model.safetensors", std::string("\x10\0\0\0\0\0\0\0{}", 10));
  expect_bad_input(run_tinyllava(info, dir.path()), "runs past the end of the file");
  write_file(m + "/model.safetensors", std::string("\x02\0\0\0\0\0\0\0[]", 10));
  expect_bad_input(run_tinyllava(info, dir.path()), "header is an array");
  ASSERT_EQ(run_tinyllava("synth -o '" + m + "' --config tiny --sparse --force", dir.path()).exit_code, 0);
  write_file(m + "/config.json", "{\"connector_type\": \"mlp2x_gelu\", \"text_config\": 3, \"vision_config\": {}}");
  expect_bad_input(run_tinyllava(info, dir.path()), "config.json: text_config: missing or not an object");
  expect_bad_input(run_tinyllava("info -m '" + dir.path() + "/absent'", dir.path()), "not a checkpoint directory");
}

TEST(Cli, SynthNeverReplacesACheckpointUnasked) {
  ScratchDir dir;
  const std::string m = dir / "m";
  ASSERT_EQ(run_tinyllava("synth -o '" + m + "' --config tiny --seed 1", dir.path()).exit_code, 0);
  const std::string first = tl::test::slurp(m + "/model.safetensors");
  expect_bad_input(run_tinyllava("synth -o '" + m + "' --config tiny --seed 2", dir.path()),
                   "directory is not empty (use --force to replace it)");
  EXPECT_EQ(tl::test::slurp(m + "/model.safetensors"), first);
  // A failing run (a config that does not exist) leaves the old checkpoint and no staging folder.
  expect_bad_input(run_tinyllava("synth -o '" + m + "' --config absent.json --force", dir.path()), "absent.json");
  EXPECT_EQ(tl::test::slurp(m + "/model.safetensors"), first);
  EXPECT_TRUE(tl::test::slurp(m + ".tmp/config.json").empty());
  ASSERT_EQ(run_tinyllava("synth -o '" + m + "' --config tiny --seed 2 --force", dir.path()).exit_code, 0);
  EXPECT_NE(tl::test::slurp(m + "/model.safetensors"), first);
}

TEST(Cli, TokenizeEncodesDecodesAndTemplates) {
  ScratchDir dir;
  const std::string model = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/tokenizer/small_bpe.model";
  write_file(dir / "in.txt", std::string("hello world\n\xff\0x", 15));
  RunResult ids = run_tinyllava("tokenize -m '" + model + "' < '" + dir.path() + "/in.txt'", dir.path());
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  ASSERT_EQ(ids.out.back(), '\n');
  write_file(dir / "ids.txt", ids.out);
  RunResult back = run_tinyllava("tokenize -m '" + model + "' --decode < '" + dir.path() + "/ids.txt'", dir.path());
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(back.out, std::string("hello world\n\xef\xbf\xbd\0x", 17));  // byte for byte; 0xFF -> U+FFFD

  RunResult bos = run_tinyllava("tokenize -m '" + model + "' --bos < '" + dir.path() + "/in.txt'", dir.path());
  EXPECT_EQ(bos.out, "1 " + ids.out);
  write_file(dir / "q.txt", "What are these?");
  RunResult chat = run_tinyllava("tokenize -m '" + model + "' --chat < '" + dir.path() + "/q.txt'", dir.path());
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_EQ(chat.out.rfind("1 ", 0), 0u);
  EXPECT_NE(chat.out.find(" -200 "), std::string::npos);
  RunResult pieces = run_tinyllava("tokenize -m '" + model + "' --chat --pieces < '" + dir.path() + "/q.txt'", dir.path());
  EXPECT_NE(pieces.out.find("<s> "), std::string::npos);
  EXPECT_NE(pieces.out.find(" <image> "), std::string::npos);
  write_file(dir / "img.txt", "1 -200 5");
  RunResult img = run_tinyllava("tokenize -m '" + model + "' --decode < '" + dir.path() + "/img.txt'", dir.path());
  EXPECT_NE(img.out.find("<image>"), std::string::npos) << img.out;
}

TEST(Cli, TokenizeRefusesBadInput) {
  ScratchDir dir;
  const std::string model = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/tokenizer/small_bpe.model";
  write_file(dir / "bad.txt", "12 x3");
  expect_bad_input(run_tinyllava("tokenize -m '" + model + "' --decode < '" + dir.path() + "/bad.txt'", dir.path()),
                   "stdin: 'x3' is not a token id");
  write_file(dir / "big.txt", "999999");
  expect_bad_input(run_tinyllava("tokenize -m '" + model + "' --decode < '" + dir.path() + "/big.txt'", dir.path()),
                   "token id 999999 is out of range (expected 0..599)");
  write_file(dir / "broken.model", "\x0a\xff\x01");
  expect_bad_input(run_tinyllava("tokenize -m '" + dir.path() + "/broken.model' < /dev/null", dir.path()),
                   "broken.model: malformed model at byte 1: length 255 runs past the end");
  expect_bad_input(run_tinyllava("tokenize -m '" + dir.path() + "' < /dev/null", dir.path()), "tokenizer.model: cannot open");
}

TEST(Cli, TokenizeReadmeExampleWithLlamaTokenizer) {
  if (!tl::test::shared_dir_present()) GTEST_SKIP() << "../shared is absent: needs the Llama-2 tokenizer";
  ScratchDir dir;
  write_file(dir / "q.txt", "What are these?");
  RunResult r = run_tinyllava("tokenize -m '" TINYLLAVA_SHARED_DIR "/tokenizer/llama2-tokenizer.model' --chat < '" +
                                  dir.path() + "/q.txt'", dir.path());
  EXPECT_EQ(r.out,
            "1 319 13563 1546 263 12758 1404 322 385 23116 21082 20255 29889 450 20255 4076 8444 29892 13173 29892 322 "
            "1248 568 6089 304 278 1404 29915 29879 5155 29889 3148 1001 29901 29871 -200 29871 13 5618 526 1438 29973 "
            "319 1799 9047 13566 29901\n");
}

namespace {
const std::string kTiny = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/models/tiny";
}  // namespace

TEST(Cli, RunStreamsAnAnswerAndReportsTimings) {
  ScratchDir dir;
  RunResult r = run_tinyllava("run -m '" + kTiny + "' -i '" + kTiny + "/image.png' -p 'What are these?' -n 8 -t 2", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.back(), '\n');
  for (const char* field : {"load", "image", "prefill", "tok/s", "decode", "peak RSS", "threads"})
    EXPECT_NE(r.err.find(field), std::string::npos) << field << " missing from: " << r.err;
  // Text-only and sampling options.
  RunResult t = run_tinyllava("run -m '" + kTiny + "' -p 'Hello' -n 4 --temp 0.7 --top-k 5 --top-p 0.9 --seed 3", dir.path());
  EXPECT_EQ(t.exit_code, 0) << t.err;
  RunResult t2 = run_tinyllava("run -m '" + kTiny + "' -p 'Hello' -n 4 --temp 0.7 --top-k 5 --top-p 0.9 --seed 3", dir.path());
  EXPECT_EQ(t.out, t2.out);  // same seed, same answer
}

// quantize -> run / bench on the result; a bad --type and a quantized source are named.
TEST(Cli, QuantizeThenRunAndBench) {
  ScratchDir dir;
  const std::string q = dir.path() + "/q4";
  RunResult w = run_tinyllava("quantize -m '" + kTiny + "' -o '" + q + "' --type q4", dir.path());
  ASSERT_EQ(w.exit_code, 0) << w.err;
  EXPECT_NE(w.out.find("tensors quantized (q4)"), std::string::npos) << w.out;
  RunResult r = run_tinyllava("run -m '" + q + "' -i '" + kTiny + "/image.png' -p 'What are these?' -n 4 -t 2", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  RunResult b = run_tinyllava("bench -m '" + q + "' -n 4 -t 2 --read-buffer 16 --json", dir.path());
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const std::string last = b.out.substr(b.out.rfind('\n', b.out.size() - 2) + 1);
  EXPECT_EQ(tl::json::parse(last, "bench --json").find("weights")->as_string(), "q4");
  RunResult rf = run_tinyllava("roofline -m '" + q + "' -o '" + dir.path() + "/q4.svg' -t 2 -n 2 --reps 1 --read-buffer 16",
                               dir.path());
  ASSERT_EQ(rf.exit_code, 0) << rf.err;
  EXPECT_NE(rf.out.find("decode proj_1      1x128 -> 512, Q4"), std::string::npos) << rf.out;
  expect_bad_input(run_tinyllava("quantize -m '" + kTiny + "' -o '" + dir.path() + "/x' --type q3", dir.path()),
                   "--type: expected q8 or q4, got 'q3'");
  expect_bad_input(run_tinyllava("quantize -m '" + q + "' -o '" + dir.path() + "/y' --type q8", dir.path()),
                   "already quantized (q4)");
}

TEST(Cli, DumpWritesEveryStageAndAcceptsPixels) {
  ScratchDir dir;
  RunResult r = run_tinyllava("dump -m '" + kTiny + "' -i '" + kTiny + "/image.png' -p 'What are these?' -o '" +
                                  dir.path() + "/out'", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"pixel_values", "vision_features", "connector", "input_ids", "logits", "tokens"})
    EXPECT_TRUE(tl::test::slurp(dir.path() + "/out/" + f + ".npy").size() > 64) << f;
  // --pixels with the reference's pixel values gives the reference's tokens.
  RunResult p = run_tinyllava("dump -m '" + kTiny + "' --pixels '" + kTiny + "/expected/pixel_values.npy' -p 'What are these?' -o '" +
                                  dir.path() + "/px'", dir.path());
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(tl::test::slurp(dir.path() + "/px/tokens.npy"), tl::test::slurp(kTiny + "/expected/tokens.npy"));
  EXPECT_EQ(tl::test::slurp(dir.path() + "/px/input_ids.npy").substr(128),
            tl::test::slurp(kTiny + "/expected/input_ids.npy").substr(128));
}

TEST(Cli, RunRefusesBadInputs) {
  ScratchDir dir;
  const std::string run = "run -m '" + kTiny + "' ";
  expect_bad_input(run_tinyllava(run + "-i '" + dir.path() + "/none.png' -p x", dir.path()), "none.png: cannot open");
  write_file(dir / "junk.jpg", "not a jpeg at all");
  expect_bad_input(run_tinyllava(run + "-i '" + dir.path() + "/junk.jpg' -p x", dir.path()), "junk.jpg: cannot decode image");
  expect_bad_input(run_tinyllava(run + "-p x -n 5000", dir.path()), "exceed the 2048-token context");
  expect_bad_input(run_tinyllava(run + "--pixels '" + kTiny + "/expected/logits.npy' -p x", dir.path()),
                   "logits.npy: shape [600] (expected [3, 64, 64] or [1, 3, 64, 64])");
  const char npy[] = "\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'}";
  write_file(dir / "bad.npy", std::string(npy, sizeof npy - 1));
  expect_bad_input(run_tinyllava(run + "--pixels '" + dir.path() + "/bad.npy' -p x", dir.path()), "invalid .npy header");
  expect_bad_input(run_tinyllava(run + "-i '" + kTiny + "/image.png' --pixels '" + kTiny + "/expected/pixel_values.npy' -p x",
                                 dir.path()), "give one of -i, --pixels and --image-embeds");
  expect_bad_input(run_tinyllava(run + "-p '<image> hi' --raw", dir.path()), "1 <image> marker(s) but 0 image(s) given");
  expect_bad_input(run_tinyllava(run + "-p x --top-p 0", dir.path()), "--top-p");
  expect_bad_input(run_tinyllava("run -m '" + dir.path() + "' -p x", dir.path()), "no model.safetensors");
  expect_bad_input(run_tinyllava(run + "-p x --device tpu", dir.path()), "--device: expected cpu or cuda, got 'tpu'");
  if (!tl::cuda_available())  // a CPU-only build or machine: refused up front, naming why
    expect_bad_input(run_tinyllava(run + "-p x --device cuda", dir.path()), "--device cuda: ");
  // A URL that cannot be fetched (nothing listens on port 9 here): a clear error, not a hang.
  expect_bad_input(run_tinyllava(run + "-i http://127.0.0.1:9/x.png -p x", dir.path()), "http://127.0.0.1:9/x.png: download failed");
}

TEST(Cli, BenchReportsEveryPhaseAsOneJsonLine) {
  ScratchDir dir;
  RunResult r = run_tinyllava("bench -m '" + kTiny + "' -n 8 --json --compare-f32 -t 2 --repeat 3 --read-buffer 32", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(r.out.empty());
  std::string last = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
  tl::json::Value v = tl::json::parse(last, "bench --json");
  for (const char* field : {"threads", "precision", "preprocess_ms", "vision_ms", "projector_ms", "prefill_tokens",
                            "prefill_ms", "ttft_ms", "decode_tokens", "decode_tok_s", "weight_bytes_per_token",
                            "kv_bytes_per_token",                            "peak_rss_bytes", "copy_bandwidth_gbs", "bandwidth_achieved_gbs", "cpu", "read_gbs_before",
                            "read_gbs_after", "read_gbs", "read_variant", "peak_fp32_gflops", "peak_bf16_gflops",
                            "matrix_peak_gflops", "vision_pct_of_peak", "prefill_pct_of_peak", "decode_pct_of_read",
                            "decode_weights_pct_of_read"})
    EXPECT_NE(v.find(field), nullptr) << field << " missing from " << last;
  EXPECT_EQ(v.find("decode_tokens")->as_int(), 8);      // EOS ignored: exactly -n tokens
  EXPECT_GT(v.find("prefill_tokens")->as_int(), 15);  // the 15 image tokens and the text
  EXPECT_GT(v.find("weight_bytes_per_token")->as_int(), 0);
  EXPECT_GT(v.find("kv_bytes_per_token")->as_int(), 0);  // decode reads the cache too, and counts it
  EXPECT_GT(v.find("decode_pct_of_read")->as_number(), v.find("decode_weights_pct_of_read")->as_number());
  EXPECT_EQ(v.find("repeat")->as_int(), 3);
  EXPECT_GT(v.find("read_gbs")->as_number(), 0);
  EXPECT_EQ(v.find("read_gbs")->as_number(),
            std::max(v.find("read_gbs_before")->as_number(), v.find("read_gbs_after")->as_number()));
  // Every phase once per pass; the reported value is their median.
  const tl::json::Value* runs = v.find("runs");
  ASSERT_NE(runs, nullptr);
  for (const char* phase : {"preprocess_ms", "vision_ms", "projector_ms", "prefill_ms", "ttft_ms", "decode_tok_s"}) {
    ASSERT_NE(runs->find(phase), nullptr) << phase;
    std::vector<double> xs;
    for (const tl::json::Value& x : runs->find(phase)->items()) xs.push_back(x.as_number());
    ASSERT_EQ(xs.size(), 3u) << phase;
    std::sort(xs.begin(), xs.end());
    EXPECT_NEAR(v.find(phase)->as_number(), xs[1], 0.01) << phase;
  }
  // Decode also in chunks of up to 16 steps, each against the read probed on either side: 8 tokens are
  // 7 steps, one chunk a pass; the reported ratio is the chunks' median.
  const tl::json::Value* chunks = v.find("decode_chunks");
  ASSERT_NE(chunks, nullptr) << last;
  std::vector<double> pct;
  for (const tl::json::Value& c : chunks->items()) {
    EXPECT_GT(c.find("read_gbs")->as_number(), 0);
    pct.push_back(c.find("pct_of_read")->as_number());
    EXPECT_GT(pct.back(), 0);
  }
  ASSERT_EQ(pct.size(), 3u);
  std::sort(pct.begin(), pct.end());
  EXPECT_NEAR(v.find("decode_chunk_pct_of_read")->as_number(), pct[1], 0.01);
  EXPECT_NE(r.out.find("ceilings       read "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("% of read"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  by chunk     up to 7 steps each"), std::string::npos) << r.out;
  expect_bad_input(run_tinyllava("bench -m '" + kTiny + "' --repeat 0", dir.path()), "--repeat");
}

// bench --isa generic: the engine runs its SSE2 table and is measured against that table's own
// ceilings (SSE2 mul+add, generic reads), not the CPU's best, and says so.
TEST(Cli, BenchCeilingsFollowTheIsaCap) {
  ScratchDir dir;
  RunResult r = run_tinyllava("bench -m '" + kTiny + "' -n 4 --json -t 2 --isa generic --read-buffer 16", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string last = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
  tl::json::Value v = tl::json::parse(last, "bench --json");
  EXPECT_EQ(v.find("isa_cap")->as_string(), "generic");
  EXPECT_EQ(v.find("read_variant")->as_string().rfind("generic", 0), 0u) << last;
  EXPECT_EQ(v.find("peak_bf16_gflops")->as_number(), 0);
  EXPECT_GT(v.find("peak_fp32_gflops")->as_number(), 0);
  EXPECT_NE(r.out.find("ceilings under --isa generic"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fp32 FMA"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(sse2 mul+add)"), std::string::npos) << r.out;
}

// A roofline run's SVG is one well-formed document with every kernel's point, the ceilings and the
// end-to-end bar, and its table names every kernel.
static void expect_roofline(const RunResult& r, const std::string& svg) {
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string doc = tl::test::slurp(svg);
  ASSERT_FALSE(doc.empty());
  EXPECT_EQ(doc.rfind("<svg", 0), 0u) << doc.substr(0, 80);
  EXPECT_EQ(doc.substr(doc.find_last_not_of("\n") - 5, 6), "</svg>");
  size_t open = 0, close = 0;
  for (size_t i = doc.find('<'); i != std::string::npos; i = doc.find('<', i + 1)) ++open;
  for (size_t i = doc.find('>'); i != std::string::npos; i = doc.find('>', i + 1)) ++close;
  EXPECT_EQ(open, close) << "unbalanced angle brackets";
  for (const char* label : {"siglip qkv/o", "siglip fc1", "siglip fc2", "patch embed", "siglip attention", "layernorm",
                            "prefill qkv", "prefill out", "prefill proj_1", "prefill proj_2", "prefill attention", "rmsnorm",
                            "decode proj_1", "decode head", "decode attention"}) {
    EXPECT_NE(doc.find(std::string(">") + label + "<"), std::string::npos) << label << " not in the chart";
    EXPECT_NE(r.out.find(label), std::string::npos) << label << " not in the table";
  }
  for (const char* part : {"read ", "fp32", "GB/s", "SigLIP", "prefill", "decode", "Where the time goes"})
    EXPECT_NE(doc.find(part), std::string::npos) << part;
  EXPECT_NE(r.out.find("end to end"), std::string::npos) << r.out;
}

TEST(Cli, RooflineWritesAnSvgWithEveryKernel) {
  ScratchDir dir;
  const std::string svg = dir / "roof.svg";
  expect_roofline(run_tinyllava("roofline -m '" + kTiny + "' -o '" + svg + "' -t 2 -n 4 --reps 1 --read-buffer 32", dir.path()),
                  svg);
  expect_bad_input(run_tinyllava("roofline --precision f16", dir.path()), "--precision: expected f32, bf16 or auto, got 'f16'");
  expect_bad_input(run_tinyllava("roofline -o '" + dir.path() + "/absent/x.svg'", dir.path()), "--output: cannot write");
}

// --device cuda: the GPU's ceilings (tensor-core roofs) and every kernel on device tensors; without a
// GPU (or CUDA in the build) refused up front.
TEST(Cli, RooflineOnTheGpu) {
  ScratchDir dir;
  const std::string svg = dir / "gpu.svg";
  const std::string cmd = "roofline --device cuda -m '" + kTiny + "' -o '" + svg + "' -n 4 --reps 2 --read-buffer 64";
  if (!tl::cuda_available()) {
    expect_bad_input(run_tinyllava(cmd, dir.path()), "--device cuda");
    return;
  }
  const RunResult r = run_tinyllava(cmd, dir.path());
  expect_roofline(r, svg);
  EXPECT_NE(r.out.find("SMs"), std::string::npos) << r.out;
  EXPECT_NE(tl::test::slurp(svg).find("tensor cores"), std::string::npos);
}

TEST(Cli, PixelsNpyFuzzerRegression) {
  // A .npy whose shape has ~2.8e18 values: the size check must not overflow computing its bytes.
  ScratchDir dir;
  expect_bad_input(run_tinyllava("run -m '" + kTiny + "' --pixels '" TINYLLAVA_SOURCE_DIR
                                 "/tests/fuzz/regressions/npy_shape_bytes_overflow.npy' -p x", dir.path()),
                   "float32 values, the file has");
  // A .npy with no values at all (shape (0, ...)): read without touching a data pointer, then refused.
  expect_bad_input(run_tinyllava("run -m '" + kTiny + "' --pixels '" TINYLLAVA_SOURCE_DIR
                                 "/tests/fuzz/regressions/npy_zero_size_shape.npy' -p x", dir.path()),
                   "npy_zero_size_shape.npy: shape [0, 133, 46666, 16646]");
  expect_bad_input(run_tinyllava("run -m '" + kTiny + "' --pixels '" TINYLLAVA_SOURCE_DIR
                                 "/tests/fuzz/regressions/npy_zero_dim_stride_overflow.npy' -p x", dir.path()),
                   "overflows a 64-bit element count");
}

// compare: a checkpoint against itself is identical (KL 0, everything agrees); against its q8 copy the
// numbers are small but not zero; a missing --vs is named.
TEST(Cli, CompareReportsDivergenceAndAgreement) {
  ScratchDir dir;
  const std::string q = dir.path() + "/q8";
  ASSERT_EQ(run_tinyllava("quantize -m '" + kTiny + "' -o '" + q + "' --type q8", dir.path()).exit_code, 0);
  auto field = [](const std::string& out, const char* key) {
    const std::string last = out.substr(out.rfind('\n', out.size() - 2) + 1);
    return tl::json::parse(last, "compare --json").find(key)->as_number();
  };
  RunResult same = run_tinyllava("compare -m '" + kTiny + "' --vs '" + kTiny + "' -n 8 -t 2 --json", dir.path());
  ASSERT_EQ(same.exit_code, 0) << same.err;
  EXPECT_EQ(field(same.out, "kl_max"), 0.0);
  EXPECT_EQ(field(same.out, "top1"), 1.0);
  EXPECT_EQ(field(same.out, "greedy_same"), 8.0);
  EXPECT_EQ(field(same.out, "logit_error_max"), 0.0);
  EXPECT_EQ(field(same.out, "greedy_assured"), 8.0);  // any margin above twice a zero error
  EXPECT_EQ(field(same.out, "vision_rel_fro"), 0.0);
  RunResult r = run_tinyllava("compare -m '" + kTiny + "' --vs '" + q + "' -n 8 -t 2 --json", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(field(r.out, "kl_mean"), 0.0);
  EXPECT_LT(field(r.out, "kl_mean"), 1e-2);
  EXPECT_GT(field(r.out, "logit_error_max"), 0.0);
  EXPECT_LT(field(r.out, "logit_error_max"), 8e-2);
  EXPECT_GT(field(r.out, "vision_rel_fro"), 0.0);
  EXPECT_LT(field(r.out, "vision_rel_fro"), 5e-2);
  expect_bad_input(run_tinyllava("compare -m '" + kTiny + "' -n 8", dir.path()), "--vs");
}
