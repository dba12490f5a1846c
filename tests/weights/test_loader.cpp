// tests/weights/test_loader.cpp — binding checkpoints to ModelWeights: synth output loads with every
// slot bound; a missing, misshapen or unknown tensor is refused by name; unused tensors may be absent.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "tensor/error.h"
#include "test_util.h"
#include "weights/layout.h"
#include "weights/loader.h"
#include "weights/synth.h"

using namespace tl;
using tl::test::input_error;
using tl::test::ScratchDir;
using tl::test::slurp;
using tl::test::write_file;

namespace {

// Writes config.json (tiny) and a sparse model.safetensors holding `specs`.
void write_checkpoint(const ScratchDir& dir, const std::vector<TensorSpec>& specs) {
  write_file(dir / "config.json", builtin_config("tiny"));
  std::vector<SafetensorsWriter::Spec> w;
  for (const TensorSpec& s : specs) w.push_back({s.name, DType::F16, s.shape});
  SafetensorsWriter writer(dir / "model.safetensors", w);
  writer.finish_sparse();
}

std::string load_error(const ScratchDir& dir) { return input_error([&] { load_model(dir.path()); }); }

std::vector<TensorSpec> tiny_layout() {
  return checkpoint_layout(parse_config(json::parse(builtin_config("tiny"), "tiny"), "tiny"));
}

}  // namespace

TEST(Loader, SynthTinyLoadsWithEverySlotBound) {
  ScratchDir dir;
  SynthOptions opt;
  opt.config = "tiny";
  SynthReport r = synth_checkpoint(dir.path(), opt);
  LoadedModel m = load_model(dir.path());
  EXPECT_EQ(static_cast<int64_t>(m.checkpoint->tensors().size()), r.tensors);
  // Vision: 3 layers stored, hidden_states[-2] needs 2; layer 2 + post_layernorm (2) + head (11) unused.
  EXPECT_EQ(m.unused.size(), 16u + 2u + 11u);
  EXPECT_EQ(m.used.size() + m.unused.size(), m.checkpoint->tensors().size());
  ASSERT_EQ(m.weights.vision.layers.size(), 2u);
  EXPECT_TRUE(m.weights.vision.layers[1].fc2_w.has_shape({64, 176}));
  EXPECT_TRUE(m.weights.vision.patch_w.has_shape({64, 3, 14, 14}));
  ASSERT_EQ(m.weights.text.layers.size(), 4u);
  EXPECT_TRUE(m.weights.text.layers[0].qkv.has_shape({(2 + 2 * 1) * 32, 128}));
  EXPECT_TRUE(m.weights.text.layers[3].proj_1.has_shape({512, 128}));
  EXPECT_EQ(m.weights.text.lm_head.data, m.weights.text.token_embeddings.data);  // tied
  EXPECT_EQ(m.weights.text.layers[2].q_norm.dtype, DType::F16);
  // Random values at realistic scales: a norm weight near 1, a matrix near 0.
  const uint16_t* norm = m.weights.text.norm.ptr<uint16_t>();
  float n0 = f16_to_f32(norm[0]);
  EXPECT_GT(n0, 0.9f);
  EXPECT_LT(n0, 1.1f);
}

TEST(Loader, SynthIsDeterministicPerSeedAndThreadCount) {
  ScratchDir a, b, c;
  SynthOptions opt;
  opt.config = "tiny";
  opt.threads = 1;
  synth_checkpoint(a.path(), opt);
  opt.threads = 3;
  synth_checkpoint(b.path(), opt);
  opt.seed = 1;
  synth_checkpoint(c.path(), opt);
  std::string fa = slurp(a / "model.safetensors");
  EXPECT_EQ(fa, slurp(b / "model.safetensors"));
  EXPECT_NE(fa, slurp(c / "model.safetensors"));
}

TEST(Loader, Bf16AndF32CheckpointsLoad) {
  for (DType t : {DType::BF16, DType::F32}) {
    ScratchDir dir;
    SynthOptions opt;
    opt.config = "tiny";
    opt.dtype = t;
    synth_checkpoint(dir.path(), opt);
    LoadedModel m = load_model(dir.path());
    EXPECT_EQ(m.weights.connector.w1.dtype, t);
  }
}

TEST(Loader, MissingUsedTensorIsNamedWithItsShape) {
  ScratchDir dir;
  std::vector<TensorSpec> specs = tiny_layout();
  specs.erase(std::find_if(specs.begin(), specs.end(),
                           [](const TensorSpec& s) { return s.name == "language_model.transformer.layers.1.attn.qkv_proj.weight"; }));
  write_checkpoint(dir, specs);
  EXPECT_NE(load_error(dir).find("missing tensor \"language_model.transformer.layers.1.attn.qkv_proj.weight\" "
                                 "(expected shape [256, 128])"),
            std::string::npos);
}

TEST(Loader, WrongShapeIsNamedWithExpectedAndActual) {
  ScratchDir dir;
  std::vector<TensorSpec> specs = tiny_layout();
  for (TensorSpec& s : specs)
    if (s.name == "connector._connector.0.weight") s.shape = {128, 63};
  write_checkpoint(dir, specs);
  EXPECT_NE(load_error(dir).find("tensor \"connector._connector.0.weight\": wrong shape (expected [128, 64], got [128, 63])"),
            std::string::npos);
}

TEST(Loader, UnexpectedTensorIsRefused) {
  ScratchDir dir;
  std::vector<TensorSpec> specs = tiny_layout();
  specs.push_back({"language_model.lm_head.weight", {32000, 128}, Init::Matrix, nullptr});  // but the config ties
  write_checkpoint(dir, specs);
  EXPECT_NE(load_error(dir).find("unexpected tensor \"language_model.lm_head.weight\""), std::string::npos);
}

TEST(Loader, UnusedTensorsMayBeStripped) {
  ScratchDir dir;
  std::vector<TensorSpec> specs = tiny_layout();
  specs.erase(std::remove_if(specs.begin(), specs.end(), [](const TensorSpec& s) { return s.name.find(".head.") != std::string::npos; }),
              specs.end());
  write_checkpoint(dir, specs);
  LoadedModel m = load_model(dir.path());
  EXPECT_EQ(m.unused.size(), 16u + 2u);
}

TEST(Loader, BadConfigIsNamed) {
  ScratchDir dir;
  write_checkpoint(dir, tiny_layout());
  write_file(dir / "config.json", "{\"connector_type\": ");
  EXPECT_NE(load_error(dir).find("config.json: invalid JSON at byte 19"), std::string::npos);
}
