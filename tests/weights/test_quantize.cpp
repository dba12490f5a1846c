// tests/weights/test_quantize.cpp — `quantize` and loading its output: which tensors become codes and
// scales, that the codes are quantize_row's of the float weights, that the output does not depend on
// the thread count, and a one-line error for every inconsistent quantized checkpoint.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "fuzz/quantized_check.h"
#include "tensor/error.h"
#include "tensor/quant.h"
#include "test_util.h"
#include "weights/json.h"
#include "weights/layout.h"
#include "weights/loader.h"
#include "weights/quantize.h"
#include "weights/synth.h"

using namespace tl;
using tl::test::input_error;
using tl::test::ScratchDir;
using tl::test::slurp;
using tl::test::write_file;

namespace {

std::string synth_tiny(const ScratchDir& dir) {
  SynthOptions opt;
  opt.config = "tiny";
  synth_checkpoint(dir / "f16", opt);
  return dir / "f16";
}

std::string quantize(const std::string& src, const std::string& out, DType t, int threads = 0) {
  QuantizeOptions o;
  o.type = t;
  o.threads = threads;
  quantize_checkpoint(src, out, o);
  return out;
}

std::string load_error(const std::string& dir) { return input_error([&] { load_model(dir); }); }

// A copy of `dir`'s config.json whose quantization_config is replaced by `block` (removed when empty).
void rewrite_quantization(const std::string& dir, const std::string& block) {
  json::Value root = json::parse(slurp(dir + "/config.json"), "config.json");
  json::Value out = json::Value::object();
  for (const auto& m : root.members())
    if (m.first != "quantization_config") out.set(m.first, m.second);
  if (!block.empty()) out.set("quantization_config", json::parse(block, "block"));
  write_file(dir + "/config.json", json::dump(out, 2));
}

// A sparse checkpoint: the tiny config with `format`, every tensor F16 except the ones in `edits`
// (name -> {dtype, shape}), plus `extra` tensors.
void write_checkpoint(const ScratchDir& dir, const std::vector<SafetensorsWriter::Spec>& edits,
                      const std::vector<SafetensorsWriter::Spec>& extra) {
  write_file(dir / "config.json", builtin_config("tiny"));
  rewrite_quantization(dir.path(), R"({"quant_method": "tinyllava", "format": "q8", "group_size": 32})");
  std::vector<SafetensorsWriter::Spec> specs;
  for (const TensorSpec& s : checkpoint_layout(parse_config(json::parse(builtin_config("tiny"), "tiny"), "tiny"))) {
    SafetensorsWriter::Spec w = {s.name, DType::F16, s.shape};
    for (const auto& e : edits)
      if (e.name == s.name) w = e;
    specs.push_back(w);
  }
  specs.insert(specs.end(), extra.begin(), extra.end());
  SafetensorsWriter writer(dir / "model.safetensors", specs);
  writer.finish_sparse();
}

const std::string kQkv = "language_model.transformer.layers.0.attn.qkv_proj.weight";  // [128, 128] in tiny

}  // namespace

TEST(Quantize, LinearWeightsBecomeCodesAndScalesTheRestIsCopied) {
  ScratchDir dir;
  const std::string src = synth_tiny(dir);
  const LoadedModel f = load_model(src);
  for (DType t : {DType::Q8, DType::Q4}) {
    const LoadedModel q = load_model(quantize(src, dir / dtype_name(t), t));
    EXPECT_EQ(q.config.quant_format, t == DType::Q8 ? "q8" : "q4");
    EXPECT_EQ(slurp(src + "/generation_config.json"), slurp(dir / dtype_name(t) + "/generation_config.json"));
    const OpenElmLayerWeights& L = q.weights.text.layers[1];
    for (const Tensor* w : {&L.qkv, &L.out_proj, &L.proj_1, &L.proj_2}) {
      EXPECT_EQ(w->dtype, t);
      EXPECT_NE(w->scales, nullptr);
    }
    for (const Tensor* w : {&q.weights.vision.layers[0].fc2_w, &q.weights.connector.w1, &q.weights.text.token_embeddings})
      EXPECT_EQ(w->dtype, DType::Q8) << "the image side and the embedding / tied head stay Q8";
    EXPECT_EQ(q.weights.text.lm_head.scales, q.weights.text.token_embeddings.scales);
    EXPECT_EQ(q.weights.text.layers[0].attn_norm.dtype, DType::F16);
    EXPECT_EQ(q.weights.vision.patch_w.dtype, DType::F16);
    EXPECT_EQ(q.weights.vision.layers[0].fc1_b.dtype, DType::F16);
    const Tensor& pos = f.weights.vision.pos_emb;
    EXPECT_EQ(0, std::memcmp(q.weights.vision.pos_emb.data, pos.data, pos.nbytes()));
    // The codes and scales are quantize_row's of the float weights, row by row.
    const Tensor& fw = f.weights.text.layers[1].proj_2;  // Q8 or Q4 as asked
    const int64_t K = fw.shape[1];
    std::vector<float> row(static_cast<size_t>(K));
    std::vector<uint8_t> codes(static_cast<size_t>(quant_row_bytes(t, K)));
    std::vector<uint16_t> scales(static_cast<size_t>(quant_groups(K)));
    for (int64_t r : {int64_t{0}, fw.shape[0] - 1}) {
      convert_to_f32(static_cast<const uint16_t*>(fw.data) + r * K, DType::F16, row.data(), row.size());
      quantize_row(t, row.data(), K, codes.data(), scales.data());
      const uint8_t* stored = static_cast<const uint8_t*>(L.proj_2.data) + r * codes.size();
      EXPECT_EQ(0, std::memcmp(codes.data(), stored, codes.size()));
      EXPECT_EQ(0, std::memcmp(scales.data(), L.proj_2.scales + r * scales.size(), scales.size() * 2));
    }
  }
}

TEST(Quantize, OutputDoesNotDependOnThreads) {
  ScratchDir dir;
  const std::string src = synth_tiny(dir);
  quantize(src, dir / "a", DType::Q4, 1);
  quantize(src, dir / "b", DType::Q4, 3);
  EXPECT_EQ(slurp(dir / "a/model.safetensors"), slurp(dir / "b/model.safetensors"));
  EXPECT_EQ(slurp(dir / "a/config.json"), slurp(dir / "b/config.json"));
}

TEST(Quantize, RefusesAQuantizedSourceAndAnUnknownType) {
  ScratchDir dir;
  const std::string q8 = quantize(synth_tiny(dir), dir / "q8", DType::Q8);
  try {
    quantize(q8, dir / "again", DType::Q4);
    ADD_FAILURE() << "quantized twice";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already quantized (q8)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(quantize(q8, dir / "x", DType::BF16), Error);
}

TEST(Quantize, CodesWithoutQuantizationConfigAreRefused) {
  ScratchDir dir;
  const std::string q8 = quantize(synth_tiny(dir), dir / "q8", DType::Q8);
  rewrite_quantization(q8, "");
  EXPECT_NE(load_error(q8).find("holds I8 codes, but config.json has no quantization_config"), std::string::npos)
      << load_error(q8);
  rewrite_quantization(q8, R"({"quant_method": "tinyllava", "format": "q8", "group_size": 64})");
  EXPECT_NE(load_error(q8).find("quantization_config.group_size: 64 is not supported (expected 32)"), std::string::npos)
      << load_error(q8);
  rewrite_quantization(q8, R"({"quant_method": "gptq", "format": "q8"})");
  EXPECT_NE(load_error(q8).find("quantization_config.quant_method: unsupported value \"gptq\""), std::string::npos)
      << load_error(q8);
}

TEST(Quantize, InconsistentQuantizedTensorsAreNamed) {
  const std::string scale = quant_scale_name(kQkv);
  {
    ScratchDir dir;  // codes without their scales
    write_checkpoint(dir, {{kQkv, DType::I8, {128, 128}}}, {});
    EXPECT_NE(load_error(dir.path()).find("missing tensor \"" + scale + "\" (the F16 scales [128, 4]"), std::string::npos)
        << load_error(dir.path());
  }
  {
    ScratchDir dir;  // scales of the wrong dtype
    write_checkpoint(dir, {{kQkv, DType::I8, {128, 128}}}, {{scale, DType::F32, {128, 4}}});
    EXPECT_NE(load_error(dir.path()).find(scale + "\": F32 [128, 4] (expected F16 [128, 4])"), std::string::npos)
        << load_error(dir.path());
  }
  {
    ScratchDir dir;  // Q4 codes with Q8's row length
    write_checkpoint(dir, {{kQkv, DType::U8, {128, 128}}}, {{scale, DType::F16, {128, 4}}});
    EXPECT_NE(load_error(dir.path()).find("U8 codes of shape [128, 128] (expected [128, 64] for Q4 weights"),
              std::string::npos)
        << load_error(dir.path());
  }
  {
    ScratchDir dir;  // a norm weight is not a Linear weight
    const std::string norm = "language_model.transformer.layers.0.attn_norm.weight";
    write_checkpoint(dir, {{norm, DType::I8, {128}}}, {});
    EXPECT_NE(load_error(dir.path()).find("dtype I8 (expected F32, F16 or BF16: only Linear weights are quantized)"),
              std::string::npos)
        << load_error(dir.path());
  }
  {
    ScratchDir dir;  // scales of a weight that is not quantized
    write_checkpoint(dir, {}, {{scale, DType::F16, {128, 4}}});
    EXPECT_NE(load_error(dir.path()).find("unexpected tensor \"" + scale + "\""), std::string::npos)
        << load_error(dir.path());
  }
}

namespace {

struct WeightStats {
  int outlier_columns = 0;  // columns whose mean |w| exceeds 4× their matrix's median column mean
  double kurtosis = 0;      // of all Linear weight values
  int large_norm_weights = 0;  // norm scales above 5
};

WeightStats stats_of(const std::string& dir) {
  const LoadedModel m = load_model(dir);
  WeightStats s;
  double n = 0, m2 = 0, m4 = 0;
  for (const TensorSpec& spec : checkpoint_layout(m.config)) {
    const TensorEntry* e = m.checkpoint->find(spec.name);
    std::vector<float> v(static_cast<size_t>(e->numel()));
    convert_to_f32(e->data, e->dtype, v.data(), v.size());
    if (spec.init == Init::NormWeight)
      for (float x : v) s.large_norm_weights += x > 5.0f;
    if (!spec.quantizable) continue;
    const int64_t rows = spec.shape[0], cols = spec.shape[1];
    std::vector<double> col(static_cast<size_t>(cols), 0.0);
    for (int64_t i = 0; i < rows * cols; ++i) {
      const double x = v[i];
      col[i % cols] += std::fabs(x) / rows;
      n += 1, m2 += x * x, m4 += x * x * x * x;
    }
    std::vector<double> sorted = col;
    std::nth_element(sorted.begin(), sorted.begin() + cols / 2, sorted.end());
    for (double c : col) s.outlier_columns += c > 4 * sorted[cols / 2];
  }
  s.kurtosis = (m4 / n) / ((m2 / n) * (m2 / n));
  return s;
}

}  // namespace

// synth --profile trained carries the statistics that make quantization hard (synth.h), the gaussian
// profile none of them.
TEST(Quantize, SynthTrainedProfileHasOutlierColumnsHeavyTailsAndLargeNormWeights) {
  ScratchDir dir;
  SynthOptions opt;
  opt.config = "tiny";
  synth_checkpoint(dir / "g", opt);
  opt.profile = SynthProfile::Trained;
  synth_checkpoint(dir / "t", opt);
  const WeightStats g = stats_of(dir / "g"), t = stats_of(dir / "t");
  std::printf("[ profile  ] gaussian: %d outlier columns, kurtosis %.2f, %d norm weights > 5; trained: %d, %.2f, %d\n",
              g.outlier_columns, g.kurtosis, g.large_norm_weights, t.outlier_columns, t.kurtosis, t.large_norm_weights);
  EXPECT_EQ(g.outlier_columns, 0);
  EXPECT_NEAR(g.kurtosis, 3.0, 0.2);
  EXPECT_EQ(g.large_norm_weights, 0);
  EXPECT_GE(t.outlier_columns, 5);
  EXPECT_GT(t.kurtosis, 6.0);
  EXPECT_GE(t.large_norm_weights, 1);
}

// fuzz_quantized's checks (tests/fuzz/quantized_check.h) on its seeds and on deterministic mutations of
// them — byte changes across the header and the data, and truncations — so that `make test` and its
// ASan + UBSan run cover the target without libFuzzer: every input is read whole or refused in words.
TEST(Quantize, FuzzSeedsAndTheirMutationsAreReadOrRefused) {
  const std::string dir = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fuzz/corpus/quantized/";
  int accepted = 0, refused = 0;
  for (const char* seed : {"micro-q4.safetensors", "micro-q8.safetensors"}) {
    const std::string bytes = slurp(dir + seed);
    ASSERT_GT(bytes.size(), 1000u) << seed;
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    EXPECT_TRUE(tl::fuzz::check_quantized_checkpoint(p, bytes.size())) << seed << " is a valid checkpoint";
    std::mt19937 rng(11);
    auto attempt = [&](const std::string& b) {
      try {
        tl::fuzz::check_quantized_checkpoint(reinterpret_cast<const uint8_t*>(b.data()), b.size());
        ++accepted;
      } catch (const Error& e) {
        EXPECT_FALSE(std::string(e.what()).empty());
        ++refused;
      }
    };
    const size_t header = 8 + static_cast<size_t>(bytes[0] & 0xff) + (static_cast<size_t>(bytes[1] & 0xff) << 8);
    for (int i = 0; i < 150; ++i) {  // the header: digits, quotes, brackets, dtype letters
      std::string b = bytes;
      const size_t at = 8 + rng() % (header - 8);
      b[at] = "0123456789\"[]{},:IUF8"[rng() % 21];
      attempt(b);
    }
    for (int i = 0; i < 60; ++i) {  // the data: any byte (codes and scales, including NaN/Inf scales)
      std::string b = bytes;
      for (int j = 0; j < 8; ++j) b[header + rng() % (bytes.size() - header)] = static_cast<char>(rng());
      attempt(b);
    }
    for (size_t cut : {size_t{0}, size_t{7}, header - 1, header, header + 100, bytes.size() - 1})
      attempt(bytes.substr(0, cut));
  }
  std::printf("[ fuzz     ] mutations read whole: %d, refused: %d\n", accepted, refused);
  EXPECT_GT(refused, 0);
  EXPECT_GT(accepted, 0);
}
