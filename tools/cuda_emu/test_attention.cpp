// tools/cuda_emu/test_attention.cpp — kernels/cuda/attention.cu, emulated on the CPU, against
// ref::attention.
//
// The cases of tests/kernels/test_cuda_attention.cpp: every rung (Naive, Flash, SplitK, Auto) on odd
// shapes that cross every tile edge (S = 1, Dh = 5, 72, 80, 96, 128, the first query's limit at and past a
// 64-key tile, SplitK chunks a causal row cannot see, peaked softmax rows) and on the real model
// shapes: SigLIP 729 × 729 × 16 heads of 72 (Flash, Naive), OpenELM prefill 774 causal with 20 query
// heads over 5 KV heads (Auto), OpenELM decode over 2048 cached keys (every rung). Then Auto above
// Flash's head-dim limit, the first causal query (exactly v[0]), S = 0, and the refusals.
// Tolerance: 1e-5 of max|out| (F32 kernels against the F64 reference).
#include <string>
#include <vector>

#include "emu_test.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/ref/ref.h"

using namespace tl;
using cuda::AttentionAlgo;
using emu_test::DeviceBuffer;
using emu_test::Tally;

namespace {

const std::vector<AttentionAlgo> kAllRungs = {AttentionAlgo::Auto, AttentionAlgo::Naive, AttentionAlgo::Flash,
                                              AttentionAlgo::SplitK};

// Whether Naive's row of scores (S + Dh floats) fits the (emulated) device's shared memory.
bool naive_fits(int64_t S, int64_t Dh) {
  return static_cast<int64_t>(sizeof(float)) * (S + Dh) + 1024 <= static_cast<int64_t>(emu::kMaxSmemOptin);
}

DeviceBuffer to_device(const Tensor& t) {
  DeviceBuffer d(t.nbytes());
  std::memcpy(d.at(), t.data, t.nbytes());
  return d;
}

struct Shape {
  const char* name;
  int64_t T, S, H, Hkv, Dh, offset;
  float scale_mul = 1.0f;  // scale = scale_mul / sqrt(Dh): larger values give peaked rows
  std::vector<AttentionAlgo> rungs = kAllRungs;
};

void check_attention(Tally& tally, const Shape& s) {
  OwnedTensor q = emu_test::random_f32({s.T, s.H, s.Dh});
  OwnedTensor k = emu_test::random_f32({s.S, s.Hkv, s.Dh}), v = emu_test::random_f32({s.S, s.Hkv, s.Dh});
  OwnedTensor want = OwnedTensor::empty(DType::F32, {s.T, s.H, s.Dh});
  const float scale = s.scale_mul / std::sqrt(static_cast<float>(s.Dh));
  ref::attention(q.tensor, k.tensor, v.tensor, want.tensor, scale, s.offset);
  DeviceBuffer d_q = to_device(q.tensor), d_k = to_device(k.tensor), d_v = to_device(v.tensor);
  DeviceBuffer d_out(want.tensor.nbytes());
  for (AttentionAlgo algo : s.rungs) {
    if (algo == AttentionAlgo::Naive && !naive_fits(s.S, s.Dh)) continue;
    std::memset(d_out.at(), 0xff, want.tensor.nbytes());
    cuda::attention_raw(d_q.at<float>(), d_k.at<float>(), d_v.at<float>(), d_out.at<float>(), s.T, s.S, s.H, s.Hkv,
                        s.Dh, scale, s.offset, algo);
    const std::string what = std::string("attention ") + tl::cuda::algo_name(algo) + " " + s.name + " T=" + std::to_string(s.T) +
                             " S=" + std::to_string(s.S) + " H=" + std::to_string(s.H) + "/" + std::to_string(s.Hkv) +
                             " Dh=" + std::to_string(s.Dh) + " offset=" + std::to_string(s.offset);
    tally.check(what, emu_test::max_rel(d_out.at<float>(), want.tensor.ptr<float>(), want.tensor.numel()), 1e-5);
  }
}

// Query 0 of a causal prefill sees only key 0, so every rung must return exactly v[0] (other keys and
// SplitK's other chunks contribute exact zeros; 4 ulps are left for expf(0)).
void check_first_causal_query(Tally& tally) {
  const int64_t T = 4, S = 300, H = 4, Hkv = 2, Dh = 72;
  OwnedTensor q = emu_test::random_f32({T, H, Dh});
  OwnedTensor k = emu_test::random_f32({S, Hkv, Dh}), v = emu_test::random_f32({S, Hkv, Dh});
  DeviceBuffer d_q = to_device(q.tensor), d_k = to_device(k.tensor), d_v = to_device(v.tensor);
  DeviceBuffer d_out(static_cast<size_t>(T * H * Dh) * sizeof(float));
  for (AttentionAlgo algo : {AttentionAlgo::Naive, AttentionAlgo::Flash, AttentionAlgo::SplitK}) {
    cuda::attention_raw(d_q.at<float>(), d_k.at<float>(), d_v.at<float>(), d_out.at<float>(), T, S, H, Hkv, Dh, 0.5f,
                        0, algo);
    std::vector<float> want(static_cast<size_t>(H * Dh));
    for (int64_t h = 0; h < H; ++h)
      for (int64_t d = 0; d < Dh; ++d) want[static_cast<size_t>(h * Dh + d)] = v.tensor.ptr<float>()[(h / (H / Hkv)) * Dh + d];
    tally.check(std::string("attention ") + tl::cuda::algo_name(algo) + " first causal query is v[0]",
                emu_test::max_rel(d_out.at<float>(), want.data(), H * Dh), 5e-7);
  }
}

void check_no_keys(Tally& tally) {
  const int64_t T = 3, H = 4, Dh = 16;
  OwnedTensor q = emu_test::random_f32({T, H, Dh});
  DeviceBuffer d_q = to_device(q.tensor), d_out(static_cast<size_t>(T * H * Dh) * sizeof(float));
  cuda::attention_raw(d_q.at<float>(), nullptr, nullptr, d_out.at<float>(), T, 0, H, 2, Dh, 1.0f, ops::kNonCausal);
  const std::vector<float> zeros(static_cast<size_t>(T * H * Dh), 0.0f);
  tally.check("attention S=0 gives zeros", emu_test::max_rel(d_out.at<float>(), zeros.data(), T * H * Dh) == 0 ? 0 : 1,
              1e-30);
}

void check_refusals(Tally& tally) {
  DeviceBuffer d(1024 * sizeof(float));  // never read: the checks fail first
  float* p = d.at<float>();
  tally.refuses("attention 6 query heads over 4 KV heads",
                [&] { cuda::attention_raw(p, p, p, p, 2, 2, 6, 4, 8, 1.0f, 0, AttentionAlgo::Flash); });
  tally.refuses("attention Flash with Dh = 129",
                [&] { cuda::attention_raw(p, p, p, p, 1, 2, 1, 1, 129, 1.0f, 0, AttentionAlgo::Flash); });
  tally.refuses("attention SplitK with Dh = 129",
                [&] { cuda::attention_raw(p, p, p, p, 1, 2, 1, 1, 129, 1.0f, 0, AttentionAlgo::SplitK); });
  tally.refuses("attention Naive with a score row larger than shared memory", [&] {
    cuda::attention_raw(p, p, p, p, 1, int64_t{1} << 17, 1, 1, 8, 1.0f, ops::kNonCausal, AttentionAlgo::Naive);
  });
}

void attention_suite(Tally& tally) {
  const int64_t kNC = ops::kNonCausal;
  using A = AttentionAlgo;
  const std::vector<Shape> shapes = {
      // Real model shapes; prefill without SplitK (a decode rung: 40× slower to emulate there).
      {"siglip", 729, 729, 16, 16, 72, kNC, 1.0f, {A::Flash, A::Naive}},
      {"openelm_prefill", 774, 774, 20, 5, 64, 0, 1.0f, {A::Auto}},
      {"openelm_decode", 1, 2048, 20, 5, 64, 2047},
      // Shapes of the GPU test, every rung.
      {"decode_s1000", 1, 1000, 4, 1, 64, 999},
      {"decode_s128", 1, 128, 12, 3, 64, 127},
      {"prefill_after_cache", 5, 20, 12, 3, 64, 15},
      {"t1_s1", 1, 1, 1, 1, 8, kNC},
      {"t1_s1_causal", 1, 1, 2, 1, 8, 0},
      {"odd", 3, 7, 6, 2, 5, kNC},
      {"odd_causal", 3, 7, 6, 2, 5, 4},
      {"causal_33", 33, 33, 8, 2, 64, 0},
      {"first_query_limit_at_tile_edge", 70, 200, 2, 1, 64, 62},  // query 0 sees keys 0..62 of a 64-key tile
      {"first_query_limit_past_tile", 70, 200, 2, 1, 64, 63},
      {"dh72_causal_offset", 70, 130, 4, 2, 72, 60},
      {"dh80_s1000", 100, 1000, 1, 1, 80, 900},
      {"dh96", 17, 65, 2, 1, 96, kNC},
      {"dh128", 65, 200, 2, 1, 128, kNC},
      {"s1000", 37, 1000, 2, 1, 64, kNC},
      {"split_chunks_masked", 4, 300, 8, 2, 64, 100},
      {"peaked", 64, 300, 4, 2, 64, 10, 8.0f},
      {"peaked_decode", 1, 700, 4, 1, 72, 699, 8.0f},
      {"auto_dh136_takes_naive", 3, 10, 2, 1, 136, 7, 1.0f, {A::Auto}},
  };
  for (const Shape& s : shapes) check_attention(tally, s);
  check_first_causal_query(tally);
  check_no_keys(tally);
  check_refusals(tally);
}

}  // namespace

int main(int argc, char** argv) { return emu_test::run_suite("attention.cu", argc, argv, attention_suite); }
