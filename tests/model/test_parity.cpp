// tests/model/test_parity.cpp — stage-by-stage parity with the PyTorch reference on the committed
// fixtures (tests/fixtures/models/, made by tools/make_model_fixtures.py): pixel values, selected
// vision features, connector output, prompt ids, last-position logits and 16 greedy tokens, for an
// image prompt and a text-only prompt, with the CPU kernels and with the reference kernels.
//
// Bound: every F32 stage within kRelTol × max|reference| (the issue asks for 1e-4; we hold 2e-5).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "model/image.h"
#include "model/generate.h"
#include "tensor/error.h"
#include "test_util.h"
#include "weights/file.h"
#include "weights/npy.h"

using namespace tl;

namespace {

constexpr double kRelTol = 2e-5;
const std::string kModels = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/models/";

// Reads an int64 .npy (input_ids, tokens) written by numpy.
std::vector<int64_t> read_npy_i64(const std::string& path) {
  std::string b = tl::test::slurp(path);
  size_t header_len = static_cast<uint8_t>(b[8]) | (static_cast<size_t>(static_cast<uint8_t>(b[9])) << 8);
  size_t start = 10 + header_len;
  EXPECT_NE(b.find("'<i8'"), std::string::npos) << path;
  std::vector<int64_t> v((b.size() - start) / 8);
  std::memcpy(v.data(), b.data() + start, v.size() * 8);
  return v;
}

// max |a - b| relative to max |ref|.
double rel_error(const float* got, const Tensor& ref) {
  double max_ref = 0, max_diff = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(ref.ptr<float>()[i])));
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(got[i]) - ref.ptr<float>()[i]));
  }
  return max_diff / std::max(max_ref, 1e-30);
}

void expect_close(const char* what, const Tensor& got, const Tensor& ref) {
  ASSERT_EQ(got.shape_vec(), ref.shape_vec()) << what;
  double e = rel_error(got.ptr<float>(), ref);
  EXPECT_LE(e, kRelTol) << what;
  ::testing::Test::RecordProperty(what, strfmt("%.2e", e));
}

struct Case {
  const char* model;
  bool reference_kernels;
};

class Parity : public ::testing::TestWithParam<Case> {
 protected:
  // The exact path: F32, the CPU or the reference kernels as the case says.
  EngineOptions options() const {
    EngineOptions o;
    o.kernels.reference = GetParam().reference_kernels;
    return o;
  }
};

}  // namespace

TEST_P(Parity, ImagePromptStageByStage) {
  const std::string dir = kModels + GetParam().model, exp = dir + "/expected/";
  Engine engine(dir, options());
  OwnedTensor pixels = read_npy_f32(exp + "pixel_values.npy");  // the reference's pixels: the model alone
  Request req;
  req.prompt = "What are these?";
  req.pixels = &pixels.tensor;
  req.generate.max_new_tokens = 16;
  Trace trace;
  run(engine, req, trace);

  expect_close("vision_features", trace.features.tensor, read_npy_f32(exp + "vision_features.npy").tensor);
  expect_close("connector", trace.image_rows.tensor, read_npy_f32(exp + "connector.npy").tensor);
  std::vector<int64_t> ids(trace.input_ids.begin(), trace.input_ids.end());
  EXPECT_EQ(ids, read_npy_i64(exp + "input_ids.npy"));
  OwnedTensor ref_logits = read_npy_f32(exp + "logits.npy");
  expect_close("logits", Tensor::view(trace.logits.data(), DType::F32, {static_cast<int64_t>(trace.logits.size())}),
               ref_logits.tensor);
  std::vector<int64_t> tokens(trace.tokens.begin(), trace.tokens.end());
  EXPECT_EQ(tokens, read_npy_i64(exp + "tokens.npy"));
}

TEST_P(Parity, TextOnlyPrompt) {
  const std::string dir = kModels + GetParam().model, exp = dir + "/expected_text/";
  Engine engine(dir, options());
  Request req;
  req.prompt = "Describe a sunny day in two words.";
  req.generate.max_new_tokens = 16;
  Trace trace;
  run(engine, req, trace);
  std::vector<int64_t> ids(trace.input_ids.begin(), trace.input_ids.end());
  EXPECT_EQ(ids, read_npy_i64(exp + "input_ids.npy"));
  expect_close("logits", Tensor::view(trace.logits.data(), DType::F32, {static_cast<int64_t>(trace.logits.size())}),
               read_npy_f32(exp + "logits.npy").tensor);
  std::vector<int64_t> tokens(trace.tokens.begin(), trace.tokens.end());
  EXPECT_EQ(tokens, read_npy_i64(exp + "tokens.npy"));
}

TEST_P(Parity, PreprocessingMatchesPil) {
  const std::string dir = kModels + GetParam().model;
  Engine engine(dir, options());
  OwnedTensor got = preprocess_image(load_image(dir + "/image.png"), engine.config());
  OwnedTensor want = read_npy_f32(dir + "/expected/pixel_values.npy");
  ASSERT_EQ(got.tensor.shape_vec(), want.tensor.shape_vec());
  for (int64_t i = 0; i < want.tensor.numel(); ++i)
    ASSERT_EQ(got.tensor.ptr<float>()[i], want.tensor.ptr<float>()[i]) << "value " << i;  // PNG + Pillow resize: exact
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Parity,
                         ::testing::Values(Case{"tiny", false}, Case{"odd", false}, Case{"plain", false},
                                           Case{"tiny", true}, Case{"odd", true}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return std::string(i.param.model) + (i.param.reference_kernels ? "_ref" : "_cpu");
                         });
