// tools/cuda_emu/test_ops.cpp — kernels/cuda/ops_cuda.cu, emulated on the CPU, through its public
// tl::cuda:: entry points (cuda_ops.h) with tensors on Device::CUDA, against kernels/ref and a host argmax.
//
// The cases of tests/kernels/test_cuda_ops.cpp and more: layernorm and rmsnorm with F32/F16/BF16 weights
// on odd shapes and the model's rows (SigLIP 729 × 1152, OpenELM rows of 1536, q/k norms over rows of 64,
// in place too, tiny rows where eps matters); gelu_tanh, gelu_erf, silu, silu_mul and add on odd sizes
// and model widths; RoPE at several pos0 (774 tokens × 16 heads, decode at the last position) and after
// switching tables; embed with host ids (F32/F16/BF16 tables, the id buffer growing and reused, a failed
// cudaMalloc) and with device ids (clamped); copy and copy_columns (the 1-row memcpy and the 2-D copy, the
// fused-QKV split); argmax, argmax_raw and argmax_on_device on ties, NaNs and infinities; the
// precondition refusals. Every check also fails if anything wrote past the end of a device buffer
// (emu::device_overrun). Then StepGraph: a small greedy
// decode step (embed from the device id, rmsnorm, RoPE, copy_columns, split-K attention, two GEMVs, add,
// argmax back into the device id) replayed as a graph at successive positions, each step checked against
// the reference; a changed body; and bodies that must be refused (host copies, synchronization, workspace
// growth) leaving the stream usable.
// Tolerances: 1e-5 of max|ref| for the norms and for results that pass through a norm or a GEMM,
// 1e-6 for the element-wise ops and RoPE, exact (bit for bit) for embed, copies and argmax.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "emu_test.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/ref/ref.h"

using namespace tl;
using emu_test::DeviceBuffer;
using emu_test::Tally;

namespace {

constexpr DType kF32 = DType::F32, kF16 = DType::F16, kBF16 = DType::BF16;
constexpr float kEps = 1e-6f;

std::string shape_name(const std::vector<int64_t>& shape) { return shape_str(shape); }

// A tensor on Device::CUDA with the (emulated) device memory it views.
struct DevTensor {
  DeviceBuffer buffer;
  Tensor t;
};

DevTensor device_empty(DType dt, const std::vector<int64_t>& shape) {
  const size_t bytes = static_cast<size_t>(checked_numel(shape, "test")) * dtype_size(dt);
  DeviceBuffer b(bytes);  // NaN bytes: an output never written shows
  Tensor t = Tensor::view(b.at(), dt, shape, Device::CUDA);
  return {std::move(b), t};
}

DevTensor to_device(const Tensor& h) {
  DevTensor d = device_empty(h.dtype, h.shape_vec());
  std::memcpy(d.t.data, h.data, h.nbytes());
  return d;
}

OwnedTensor copy_of(const Tensor& h) {
  OwnedTensor c = OwnedTensor::empty(h.dtype, h.shape_vec());
  std::memcpy(c.tensor.data, h.data, h.nbytes());
  return c;
}

OwnedTensor random_as(DType dt, const std::vector<int64_t>& shape, float scale = 1.0f) {
  OwnedTensor f = emu_test::random_f32(shape, scale);
  if (dt == kF32) return f;
  OwnedTensor t = OwnedTensor::empty(dt, shape);
  convert_from_f32(f.tensor.ptr<float>(), t.tensor.data, dt, static_cast<size_t>(f.tensor.numel()));
  return t;
}

double rel_err(const Tensor& got, const Tensor& want) {
  return emu_test::max_rel(got.ptr<float>(), want.ptr<float>(), want.numel());
}

bool same_bits(const Tensor& got, const Tensor& want) {
  return got.nbytes() == want.nbytes() && std::memcmp(got.data, want.data, want.nbytes()) == 0;
}

// The host rule: the first maximum wins, NaN counts as larger than everything (torch.argmax).
int64_t host_argmax(const float* p, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n && !std::isnan(p[best]); ++i)
    if (p[i] > p[best] || std::isnan(p[i])) best = i;
  return best;
}

// ops::RopeTable::make's formula (kernels/cpu/ops_cpu.cpp, not linked here), with a fresh serial.
ops::RopeTable make_rope_table(int head_dim, double base, int64_t positions) {
  static uint64_t serial = 1000;
  ops::RopeTable t;
  t.head_dim = head_dim;
  t.positions = positions;
  t.serial = ++serial;
  const int half = head_dim / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int j = 0; j < half; ++j) {
    const float e = static_cast<float>(2 * j) / static_cast<float>(head_dim);
    inv_freq[static_cast<size_t>(j)] = 1.0f / std::pow(static_cast<float>(base), e);
  }
  t.cos.resize(static_cast<size_t>(positions * half));
  t.sin.resize(static_cast<size_t>(positions * half));
  for (int64_t p = 0; p < positions; ++p)
    for (int j = 0; j < half; ++j) {
      const float angle = static_cast<float>(p) * inv_freq[static_cast<size_t>(j)];
      t.cos[static_cast<size_t>(p * half + j)] = std::cos(angle);
      t.sin[static_cast<size_t>(p * half + j)] = std::sin(angle);
    }
  return t;
}

// ---- norms ----------------------------------------------------------------------------------------------

void check_norms(Tally& tally) {
  struct Case {
    std::vector<int64_t> shape;
    std::vector<DType> dtypes;
    float scale = 3.0f;  // of x; at 1e-3 the mean square is about eps, so eps must be added right
  };
  const std::vector<DType> all = {kF32, kF16, kBF16};
  const std::vector<Case> cases = {
      {{1, 1}, all},     {{3, 7}, all},      {{2, 3, 33}, all},  {{33, 4, 72}, all},
      {{13, 1152}, all}, {{729, 1152}, all},  // SigLIP's layernorms
      {{5, 1536}, all},  {{774, 1536}, all},  // OpenELM rows (decode, prefill)
      {{774, 4, 64}, all}, {{1, 16, 64}, all},  // q/k norms: rows of head_dim 64, prefill and decode
      {{7, 64}, {kF32}, 1e-3f}, {{3, 1152}, {kBF16}, 1e-3f},  // tiny rows: eps matters
  };
  for (const Case& c : cases)
    for (DType wdt : c.dtypes) {
      const int64_t D = c.shape.back();
      const std::string name = shape_name(c.shape) + " w " + dtype_name(wdt) + (c.scale < 1 ? " tiny x" : "");
      OwnedTensor x = emu_test::random_f32(c.shape, c.scale);
      for (int64_t i = 0; i < x.tensor.numel(); i += 97) x.tensor.ptr<float>()[i] += c.scale;  // a nonzero mean
      OwnedTensor w = random_as(wdt, {D}), b = random_as(wdt, {D});
      DevTensor dx = to_device(x.tensor), dw = to_device(w.tensor), db = to_device(b.tensor);
      OwnedTensor want = OwnedTensor::empty(kF32, c.shape);

      ref::layernorm(x.tensor, w.tensor, b.tensor, kEps, want.tensor);
      DevTensor dy = device_empty(kF32, c.shape);
      cuda::layernorm(dx.t, dw.t, db.t, kEps, dy.t);
      tally.check("layernorm " + name, rel_err(dy.t, want.tensor), 1e-5);
      DevTensor dxi = to_device(x.tensor);
      cuda::layernorm(dxi.t, dw.t, db.t, kEps, dxi.t);  // in place
      tally.check("layernorm in place " + name, rel_err(dxi.t, want.tensor), 1e-5);

      ref::rmsnorm(x.tensor, w.tensor, kEps, want.tensor);
      cuda::rmsnorm(dx.t, dw.t, kEps, dy.t);
      tally.check("rmsnorm " + name, rel_err(dy.t, want.tensor), 1e-5);
      cuda::rmsnorm(dx.t, dw.t, kEps, dx.t);  // in place, as OpenELM's q/k norms
      tally.check("rmsnorm in place " + name, rel_err(dx.t, want.tensor), 1e-5);
    }
  // A zero row: layernorm gives b, rmsnorm 0 (eps keeps both finite).
  OwnedTensor z = OwnedTensor::empty(kF32, {2, 40});
  std::fill_n(z.tensor.ptr<float>(), 80, 0.0f);
  OwnedTensor w = random_as(kF32, {40}), b = random_as(kF32, {40});
  DevTensor dz = to_device(z.tensor), dw = to_device(w.tensor), db = to_device(b.tensor);
  OwnedTensor want = OwnedTensor::empty(kF32, {2, 40});
  DevTensor dy = device_empty(kF32, {2, 40});
  ref::layernorm(z.tensor, w.tensor, b.tensor, kEps, want.tensor);
  cuda::layernorm(dz.t, dw.t, db.t, kEps, dy.t);
  tally.check("layernorm zero rows", rel_err(dy.t, want.tensor), 1e-5);
  ref::rmsnorm(z.tensor, w.tensor, kEps, want.tensor);
  cuda::rmsnorm(dz.t, dw.t, kEps, dy.t);
  tally.exact("rmsnorm zero rows give zeros", same_bits(dy.t, want.tensor));
}

// ---- element-wise -----------------------------------------------------------------------------------------

void check_activations(Tally& tally) {
  struct Act {
    const char* name;
    void (*ref)(Tensor&);
    void (*cuda)(Tensor&);
  };
  const Act acts[] = {{"gelu_tanh", ref::gelu_tanh, cuda::gelu_tanh},
                      {"gelu_erf", ref::gelu_erf, cuda::gelu_erf},
                      {"silu", ref::silu, cuda::silu}};
  struct Size {
    std::vector<int64_t> shape;
    int which;  // -1: every activation, else only acts[which]
  };
  const std::vector<Size> sizes = {
      {{1}, -1}, {{31}, -1}, {{3, 257}, -1}, {{4097}, -1},
      {{729, 4304}, -1},  // SigLIP's MLP width (gelu_tanh there), every activation
      {{16, 2048}, 1},    // the connector's gelu_erf
  };
  for (const Size& s : sizes)
    for (int a = 0; a < 3; ++a) {
      if (s.which >= 0 && s.which != a) continue;
      OwnedTensor x = emu_test::random_f32(s.shape, 4.0f);
      DevTensor d = to_device(x.tensor);
      acts[a].ref(x.tensor);
      acts[a].cuda(d.t);
      tally.check(std::string(acts[a].name) + " " + shape_name(s.shape), rel_err(d.t, x.tensor), 1e-6);
    }
  // Extremes: large magnitudes saturate, zeros stay zeros.
  OwnedTensor x = OwnedTensor::empty(kF32, {8});
  const float vals[8] = {0.0f, -0.0f, 30.0f, -30.0f, 88.0f, -88.0f, 1e-20f, -1e-20f};
  std::copy(vals, vals + 8, x.tensor.ptr<float>());
  for (const Act& a : acts) {
    OwnedTensor want = copy_of(x.tensor);
    DevTensor d = to_device(x.tensor);
    a.ref(want.tensor);
    a.cuda(d.t);
    tally.check(std::string(a.name) + " extremes", rel_err(d.t, want.tensor), 1e-6);
  }

  for (const std::vector<int64_t>& tf : std::vector<std::vector<int64_t>>{{1, 1}, {3, 17}, {5, 1531}, {774, 4096}}) {
    const int64_t T = tf[0], F = tf[1];
    OwnedTensor g = emu_test::random_f32({T, 2 * F}, 3.0f);
    OwnedTensor want = OwnedTensor::empty(kF32, {T, F});
    DevTensor dg = to_device(g.tensor), dout = device_empty(kF32, {T, F});
    ref::silu_mul(g.tensor, want.tensor);
    cuda::silu_mul(dg.t, dout.t);
    tally.check("silu_mul " + shape_name({T, 2 * F}), rel_err(dout.t, want.tensor), 1e-6);
  }
  for (const std::vector<int64_t>& shape : std::vector<std::vector<int64_t>>{{1}, {3, 17}, {2, 3, 5}, {729, 1152}, {774, 1536}}) {
    OwnedTensor y = emu_test::random_f32(shape), x = emu_test::random_f32(shape);
    DevTensor dy = to_device(y.tensor), dx = to_device(x.tensor);
    ref::add(y.tensor, x.tensor);
    cuda::add(dy.t, dx.t);
    tally.check("add " + shape_name(shape), rel_err(dy.t, y.tensor), 1e-6);
  }
  // Empty tensors launch nothing and touch nothing.
  DevTensor e = device_empty(kF32, {0, 8});
  cuda::gelu_tanh(e.t);
  cuda::add(e.t, e.t);
  tally.exact("element-wise ops on empty tensors", cudaGetLastError() == cudaSuccess);
}

// ---- RoPE -------------------------------------------------------------------------------------------------

void check_rope_case(Tally& tally, const ops::RopeTable& table, const std::string& tname, int64_t T, int64_t H,
                     int64_t pos0) {
  OwnedTensor x = emu_test::random_f32({T, H, table.head_dim});
  DevTensor d = to_device(x.tensor);
  ref::rope(x.tensor, pos0, table);
  cuda::rope(d.t, pos0, table);
  tally.check("rope " + tname + " " + shape_name({T, H, table.head_dim}) + " pos0=" + std::to_string(pos0),
              rel_err(d.t, x.tensor), 1e-6);
}

void check_rope(Tally& tally) {
  const ops::RopeTable table = make_rope_table(64, 10000.0, 2048);
  for (const std::vector<int64_t>& c :
       std::vector<std::vector<int64_t>>{{1, 1, 0}, {7, 3, 5}, {774, 16, 0}, {5, 16, 774}, {1, 16, 773}, {1, 4, 2047},
                                         {33, 20, 1000}})
    check_rope_case(tally, table, "dh64", c[0], c[1], c[2]);
  // Another table (re-uploaded), then the first again (re-uploaded again: the serial differs).
  const ops::RopeTable small = make_rope_table(6, 500.0, 11);
  check_rope_case(tally, small, "dh6", 3, 5, 8);
  check_rope_case(tally, small, "dh6", 11, 1, 0);
  check_rope_case(tally, table, "dh64 again", 3, 2, 2045);
  // A copy of a table shares its serial and contents: no re-upload needed, same results.
  const ops::RopeTable copy = table;
  check_rope_case(tally, copy, "dh64 copy", 2, 2, 17);
}

// ---- embed, copies, argmax ----------------------------------------------------------------------------------

void check_embed(Tally& tally) {
  for (DType dt : {kF32, kF16, kBF16}) {
    OwnedTensor table = random_as(dt, {300, 24});
    DevTensor dtab = to_device(table.tensor);
    // 5 ids, then 37 (the device id buffer grows, on the first run), then 1 (reused).
    for (const std::vector<int>& ids : std::vector<std::vector<int>>{
             {0, 299, 17, 17, 5},
             {1, 2, 3, 299, 298, 0, 0, 150, 151, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
              21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34},
             {299}}) {
      const int64_t n = static_cast<int64_t>(ids.size());
      OwnedTensor want = OwnedTensor::empty(kF32, {n, 24});
      DevTensor dout = device_empty(kF32, {n, 24});
      ref::embed(table.tensor, ids.data(), n, want.tensor);
      cuda::embed(dtab.t, ids.data(), n, dout.t);
      tally.exact(std::string("embed host ids ") + dtype_name(dt) + " n=" + std::to_string(n),
                  same_bits(dout.t, want.tensor));
    }
  }
  {  // The model's width: OpenELM rows of 1536 in BF16, a prefill's worth of ids.
    OwnedTensor table = random_as(kBF16, {1000, 1536});
    DevTensor dtab = to_device(table.tensor);
    std::vector<int> ids(61);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int>((i * 7919) % 1000);
    ids[0] = 999;
    const int64_t n = static_cast<int64_t>(ids.size());
    OwnedTensor want = OwnedTensor::empty(kF32, {n, 1536});
    DevTensor dout = device_empty(kF32, {n, 1536});
    ref::embed(table.tensor, ids.data(), n, want.tensor);
    cuda::embed(dtab.t, ids.data(), n, dout.t);
    tally.exact("embed host ids BF16 [1000, 1536] n=61", same_bits(dout.t, want.tensor));
  }
  // Ids already on the device (the decode graph's path): clamped into the table.
  for (DType dt : {kF32, kBF16}) {
    OwnedTensor table = random_as(dt, {50, 72});
    DevTensor dtab = to_device(table.tensor);
    const std::vector<int> ids = {0, 49, 3, -1, 50, 1000000, -2147483647 - 1, 2147483647, 25};
    const int64_t n = static_cast<int64_t>(ids.size());
    std::vector<int> clamped(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) clamped[i] = std::min(std::max(ids[i], 0), 49);
    DeviceBuffer d_ids(ids.size() * sizeof(int));
    std::memcpy(d_ids.at(), ids.data(), ids.size() * sizeof(int));
    OwnedTensor want = OwnedTensor::empty(kF32, {n, 72});
    DevTensor dout = device_empty(kF32, {n, 72});
    ref::embed(table.tensor, clamped.data(), n, want.tensor);
    cuda::embed_ids_on_device(dtab.t, d_ids.at<int>(), n, dout.t);
    tally.exact(std::string("embed device ids (clamped) ") + dtype_name(dt), same_bits(dout.t, want.tensor));
  }
}

// embed() grows its device id buffer with cudaMalloc; when that fails the error surfaces and the next
// call starts afresh.
void check_embed_alloc_failure(Tally& tally) {
  static int64_t n = 100;  // larger than any earlier request in this process: embed must grow its buffer
  n += 50;
  OwnedTensor table = random_as(kF32, {20, 8});
  DevTensor dtab = to_device(table.tensor), dout = device_empty(kF32, {n, 8});
  std::vector<int> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = static_cast<int>((i * 13) % 20);
  emu::fail_next_mallocs(1);
  tally.refuses("embed when cudaMalloc fails", [&] { cuda::embed(dtab.t, ids.data(), n, dout.t); });
  emu::fail_next_mallocs(0);
  (void)cudaGetLastError();
  OwnedTensor want = OwnedTensor::empty(kF32, {n, 8});
  ref::embed(table.tensor, ids.data(), n, want.tensor);
  cuda::embed(dtab.t, ids.data(), n, dout.t);
  tally.exact("embed after a failed cudaMalloc", same_bits(dout.t, want.tensor));
}

void check_copies(Tally& tally) {
  OwnedTensor src = emu_test::random_f32({9, 40});
  DevTensor dsrc = to_device(src.tensor);
  DevTensor dcopy = device_empty(kF32, {360});
  cuda::copy(dsrc.t, dcopy.t);
  tally.exact("copy [9, 40] -> [360]", same_bits(dcopy.t, src.tensor));
  DevTensor e0 = device_empty(kF32, {0}), e1 = device_empty(kF32, {0, 3});
  cuda::copy(e0.t, e1.t);
  tally.exact("copy of nothing", cudaGetLastError() == cudaSuccess);

  struct Cols {
    int64_t T, M, col0, n;
  };
  const std::vector<Cols> cases = {
      {9, 40, 21, 13},   {9, 40, 0, 40},  {9, 40, 27, 13},  {1, 40, 0, 40},    {1, 40, 27, 13}, {1, 40, 5, 1},
      {3, 7, 6, 1},      {2, 5, 0, 0},
      {774, 1536, 0, 1024}, {774, 1536, 1024, 256}, {774, 1536, 1280, 256},  // the fused QKV split
      {1, 1536, 1280, 256},                                                     // decode: one row
  };
  for (const Cols& c : cases) {
    OwnedTensor s = emu_test::random_f32({c.T, c.M});
    DevTensor ds = to_device(s.tensor), dd = device_empty(kF32, {c.T, c.n});
    OwnedTensor want = OwnedTensor::empty(kF32, {c.T, c.n});
    for (int64_t t = 0; t < c.T; ++t)
      std::copy_n(s.tensor.ptr<float>() + t * c.M + c.col0, c.n, want.tensor.ptr<float>() + t * c.n);
    cuda::copy_columns(ds.t, c.col0, dd.t);
    tally.exact("copy_columns [" + std::to_string(c.T) + ", " + std::to_string(c.M) + "] cols " +
                    std::to_string(c.col0) + "+" + std::to_string(c.n),
                same_bits(dd.t, want.tensor));
  }
}

void check_argmax_case(Tally& tally, const std::string& what, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  const int64_t want = host_argmax(x.data(), n);
  DeviceBuffer d(x.size() * sizeof(float));
  std::memcpy(d.at(), x.data(), x.size() * sizeof(float));
  const Tensor t = Tensor::view(d.at(), kF32, {n}, Device::CUDA);
  const int64_t got = cuda::argmax(t);
  const int64_t got_raw = cuda::argmax_raw(d.at<float>(), n);
  DeviceBuffer d_out(sizeof(int));
  cuda::argmax_on_device(t, d_out.at<int>());
  const int64_t got_dev = *d_out.at<int>();
  const std::string detail = "want " + std::to_string(want) + ", argmax " + std::to_string(got) + ", argmax_raw " +
                             std::to_string(got_raw) + ", argmax_on_device " + std::to_string(got_dev);
  tally.exact("argmax " + what + " n=" + std::to_string(n), got == want && got_raw == want && got_dev == want, detail);
}

void check_argmax(Tally& tally) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (int64_t n : {1, 2, 5, 1023, 1024, 1025, 2049, 32000, 50257}) {
    OwnedTensor r = emu_test::random_f32({n});
    std::vector<float> x(r.tensor.ptr<float>(), r.tensor.ptr<float>() + n);
    check_argmax_case(tally, "random", x);
    const int64_t at = (n * 7) / 10;
    x[static_cast<size_t>(at)] = 100.0f;
    if (at + 3 < n) x[static_cast<size_t>(at + 3)] = 100.0f;  // a tie: the first wins
    if (at + 1024 < n) x[static_cast<size_t>(at + 1024)] = 100.0f;  // a tie in the same thread's slice
    check_argmax_case(tally, "planted tie", x);
    std::vector<float> same(static_cast<size_t>(n), -2.5f);
    check_argmax_case(tally, "all equal", same);
    std::fill(same.begin(), same.end(), -inf);
    check_argmax_case(tally, "all -inf", same);
    if (n >= 5) {
      std::vector<float> y = x;
      y[static_cast<size_t>(n - 1)] = 1000.0f;
      check_argmax_case(tally, "max last", y);
      y[static_cast<size_t>(n / 3)] = nan;
      check_argmax_case(tally, "one NaN", y);
      y[static_cast<size_t>(n / 3 + 1)] = nan;
      y[static_cast<size_t>(n - 2)] = nan;
      check_argmax_case(tally, "NaNs: the first wins", y);
      y[static_cast<size_t>(n / 5)] = inf;
      check_argmax_case(tally, "inf before a NaN", y);
      y[0] = nan;
      check_argmax_case(tally, "NaN first", y);
      if (n / 3 + 1024 < n) {  // two NaNs in one thread's strided slice, the later one first in no other
        std::vector<float> w = x;
        w[static_cast<size_t>(n / 3 + 1024)] = nan;
        w[static_cast<size_t>(n / 3)] = nan;
        w[static_cast<size_t>(n / 3 + 1)] = 500.0f;
        check_argmax_case(tally, "NaNs in one slice", w);
      }
      std::vector<float> z = x;
      z[1] = inf;
      z[static_cast<size_t>(n - 1)] = inf;
      check_argmax_case(tally, "inf tie", z);
    }
  }
}

// ---- refusals -------------------------------------------------------------------------------------------------

void check_refusals(Tally& tally) {
  DevTensor x = device_empty(kF32, {2, 8}), y = device_empty(kF32, {2, 8}), w7 = device_empty(kF32, {7});
  DevTensor w8 = device_empty(kF32, {8});
  OwnedTensor hx = OwnedTensor::empty(kF32, {2, 8});
  tally.refuses("layernorm with a weight of 7 for rows of 8", [&] { cuda::layernorm(x.t, w7.t, w8.t, kEps, y.t); });
  tally.refuses("rmsnorm of a CPU tensor into a CUDA one", [&] { cuda::rmsnorm(hx.tensor, w8.t, kEps, y.t); });
  tally.refuses("rmsnorm with an I8 weight", [&] {
    Tensor wi = Tensor::view(w8.t.data, DType::I8, {8}, Device::CUDA);
    cuda::rmsnorm(x.t, wi, kEps, y.t);
  });
  DevTensor g = device_empty(kF32, {2, 10}), o = device_empty(kF32, {2, 4});
  tally.refuses("silu_mul [2, 10] -> [2, 4]", [&] { cuda::silu_mul(g.t, o.t); });
  tally.refuses("add [2, 8] + [2, 4]", [&] { cuda::add(x.t, o.t); });
  const ops::RopeTable table = make_rope_table(8, 10000.0, 4);
  DevTensor r = device_empty(kF32, {3, 2, 8});
  tally.refuses("rope past the table's positions", [&] { cuda::rope(r.t, 2, table); });
  tally.refuses("rope with a negative pos0", [&] { cuda::rope(r.t, -1, table); });
  DevTensor r6 = device_empty(kF32, {3, 2, 6});
  tally.refuses("rope with head_dim 6 for a table of 8", [&] { cuda::rope(r6.t, 0, table); });
  DevTensor tab = device_empty(kF32, {10, 8});
  const int bad_ids[2] = {3, 10};
  tally.refuses("embed of id 10 from 10 rows", [&] { cuda::embed(tab.t, bad_ids, 2, y.t); });
  DeviceBuffer d_ids(2 * sizeof(int));
  tally.refuses("embed_ids_on_device into too few rows", [&] { cuda::embed_ids_on_device(tab.t, d_ids.at<int>(), 3, y.t); });
  tally.refuses("copy of 16 floats into 8", [&] { cuda::copy(x.t, w8.t); });
  tally.refuses("copy_columns past the last column", [&] { cuda::copy_columns(x.t, 5, o.t); });
  DevTensor empty = device_empty(kF32, {0});
  tally.refuses("argmax of nothing", [&] { cuda::argmax(empty.t); });
  tally.refuses("argmax_on_device of nothing", [&] { cuda::argmax_on_device(empty.t, d_ids.at<int>()); });
  tally.exact("no CUDA error left after the refusals", cudaGetLastError() == cudaSuccess);
}

// ---- StepGraph ------------------------------------------------------------------------------------------------

// A greedy decode step in miniature, run as a CUDA graph: the token id stays in device memory from the
// argmax of one step to the embedding of the next; pos is a kernel argument that changes every step.
class DecodeStep {
 public:
  static constexpr int64_t V = 300, D = 64, H = 2, Dh = 16, Smax = 40;

  DecodeStep()
      : table_(random_as(kBF16, {V, D})), w_(random_as(kF16, {D})), w1_(random_as(kF32, {V, D}, 0.3f)),
        w2_(random_as(kF16, {V, H * Dh}, 0.3f)), k_(emu_test::random_f32({Smax, 1, Dh})),
        v_(emu_test::random_f32({Smax, 1, Dh})), rope_(make_rope_table(16, 10000.0, Smax)),
        d_table_(to_device(table_.tensor)), d_w_(to_device(w_.tensor)), d_w1_(to_device(w1_.tensor)),
        d_w2_(to_device(w2_.tensor)), d_k_(to_device(k_.tensor)), d_v_(to_device(v_.tensor)),
        e_(device_empty(kF32, {1, D})), q_(device_empty(kF32, {1, H * Dh})), att_(device_empty(kF32, {1, H * Dh})),
        logits_(device_empty(kF32, {1, V})), logits2_(device_empty(kF32, {1, V})), d_id_(sizeof(int)) {}

  int* d_id() const { return d_id_.at<int>(); }
  const Tensor& logits() const { return logits_.t; }

  // What the graph records. With `full` false, the second GEMV and the add are left out (another graph).
  void body(int64_t pos, bool full) {
    cuda::embed_ids_on_device(d_table_.t, d_id(), 1, e_.t);
    cuda::rmsnorm(e_.t, d_w_.t, kEps, e_.t);
    Tensor heads = e_.t.reshape({1, D / Dh, Dh});
    cuda::rope(heads, pos, rope_);
    cuda::copy_columns(e_.t, D - H * Dh, q_.t);
    cuda::attention_raw(q_.t.ptr<float>(), d_k_.t.ptr<float>(), d_v_.t.ptr<float>(), att_.t.ptr<float>(), 1, pos + 1,
                        H, 1, Dh, 0.25f, pos, cuda::AttentionAlgo::SplitK);
    cuda::matmul(e_.t, d_w1_.t, nullptr, logits_.t, ops::Epilogue::None);
    if (full) {
      cuda::matmul(att_.t, d_w2_.t, nullptr, logits2_.t, ops::Epilogue::None);
      cuda::add(logits_.t, logits2_.t);
    }
    cuda::argmax_on_device(logits_.t, d_id());
  }

  // Checks the step just run for input token `id` at `pos` against kernels/ref; returns the next id.
  int check(Tally& tally, const std::string& what, int id, int64_t pos, bool full) {
    OwnedTensor e = OwnedTensor::empty(kF32, {1, D});
    ref::embed(table_.tensor, &id, 1, e.tensor);
    ref::rmsnorm(e.tensor, w_.tensor, kEps, e.tensor);
    Tensor heads = e.tensor.reshape({1, D / Dh, Dh});
    ref::rope(heads, pos, rope_);
    OwnedTensor q = OwnedTensor::empty(kF32, {1, H, Dh}), att = OwnedTensor::empty(kF32, {1, H, Dh});
    std::copy_n(e.tensor.ptr<float>() + D - H * Dh, H * Dh, q.tensor.ptr<float>());
    ref::attention(q.tensor, k_.tensor.rows(0, pos + 1), v_.tensor.rows(0, pos + 1), att.tensor, 0.25f, pos);
    OwnedTensor logits = OwnedTensor::empty(kF32, {1, V}), logits2 = OwnedTensor::empty(kF32, {1, V});
    ref::matmul(e.tensor, w1_.tensor, nullptr, logits.tensor);
    if (full) {
      ref::matmul(att.tensor.reshape({1, H * Dh}), w2_.tensor, nullptr, logits2.tensor);
      ref::add(logits.tensor, logits2.tensor);
    }
    tally.check(what + ": embedded, normed, rotated row", rel_err(e_.t, e.tensor), 1e-5);
    tally.check(what + ": attention", rel_err(att_.t, att.tensor), 1e-5);
    tally.check(what + ": logits", rel_err(logits_.t, logits.tensor), 1e-5);
    const int next = static_cast<int>(host_argmax(logits_.t.ptr<float>(), V));
    tally.exact(what + ": the argmax left in device memory", *d_id() == next,
                "want " + std::to_string(next) + ", got " + std::to_string(*d_id()));
    return next;
  }

 private:
  OwnedTensor table_, w_, w1_, w2_, k_, v_;
  ops::RopeTable rope_;
  DevTensor d_table_, d_w_, d_w1_, d_w2_, d_k_, d_v_, e_, q_, att_, logits_, logits2_;
  DeviceBuffer d_id_;
};

cudaStreamCaptureStatus capture_status() {
  cudaStreamCaptureStatus s = cudaStreamCaptureStatusActive;
  if (cudaStreamIsCapturing(cuda::stream(), &s) != cudaSuccess) return cudaStreamCaptureStatusInvalidated;
  return s;
}

void check_step_graph(Tally& tally) {
  DecodeStep step;
  cuda::reserve_workspace(cuda::attention_decode_workspace_bytes(DecodeStep::Smax, DecodeStep::H, DecodeStep::Dh));
  {
    cuda::StepGraph graph;
    int id = 7;
    *step.d_id() = id;
    // Step 0 runs plainly (it uploads the RoPE table, as the model's first step sizes every buffer).
    step.body(0, true);
    id = step.check(tally, "decode step 0 (plain)", id, 0, true);

    bool deferred = true;
    auto run = [&](int64_t pos, bool full) {
      graph.run([&] {
        std::vector<unsigned char> before(step.logits().nbytes());
        std::memcpy(before.data(), step.logits().data, before.size());
        step.body(pos, full);
        // Inside the capture nothing has run yet: the replay computes the step.
        deferred = deferred && std::memcmp(before.data(), step.logits().data, before.size()) == 0 &&
                   capture_status() == cudaStreamCaptureStatusActive;
      });
    };
    for (int64_t pos = 1; pos <= 3; ++pos) {
      run(pos, true);
      id = step.check(tally, "StepGraph step " + std::to_string(pos), id, pos, true);
    }
    tally.exact("StepGraph: the capture records the body's work, the launch runs it", deferred);
    tally.exact("StepGraph: later steps update the executable graph in place", graph.instantiations() == 1,
                std::to_string(graph.instantiations()) + " instantiations");
    tally.exact("StepGraph: only the executable graph is left", emu::live_graph_objects() == 1,
                std::to_string(emu::live_graph_objects()) + " graphs alive");

    // Bodies CUDA refuses to capture: the error surfaces as tl::Error, the stream stays usable.
    DevTensor x = device_empty(kF32, {1, 4}), x3 = device_empty(kF32, {1, 3});
    const int host_id = 3;
    tally.refuses("StepGraph body embedding host ids", [&] {
      DevTensor tab = device_empty(kF32, {10, 4});
      graph.run([&] { cuda::embed(tab.t, &host_id, 1, x.t); });
    });
    tally.refuses("StepGraph body copying to the host (argmax)", [&] { graph.run([&] { cuda::argmax(step.logits()); }); });
    tally.refuses("StepGraph body synchronizing", [&] { graph.run([] { cuda::synchronize(); }); });
    tally.refuses("StepGraph body growing the workspace", [&] { graph.run([] { cuda::reserve_workspace(size_t{1} << 30); }); });
    tally.refuses("StepGraph body with a failing check", [&] { graph.run([&] { cuda::add(x.t, x3.t); }); });
    tally.exact("StepGraph: no capture and no error left after the refused bodies",
                capture_status() == cudaStreamCaptureStatusNone && cudaGetLastError() == cudaSuccess);

    // The same graph still runs, updated in place; then a body with other nodes is instantiated afresh.
    run(4, true);
    id = step.check(tally, "StepGraph step 4 (after the refusals)", id, 4, true);
    run(5, false);
    id = step.check(tally, "StepGraph step 5 (another body)", id, 5, false);
    run(6, false);
    id = step.check(tally, "StepGraph step 6", id, 6, false);
    tally.exact("StepGraph: a changed body is instantiated once more", graph.instantiations() == 2,
                std::to_string(graph.instantiations()) + " instantiations");
  }
  tally.exact("StepGraph: nothing left after its destruction", emu::live_graph_objects() == 0,
              std::to_string(emu::live_graph_objects()) + " graphs alive");
}

void ops_suite(Tally& tally) {
  check_norms(tally);
  check_activations(tally);
  check_rope(tally);
  check_embed(tally);
  check_embed_alloc_failure(tally);
  check_copies(tally);
  check_argmax(tally);
  check_refusals(tally);
  check_step_graph(tally);
}

}  // namespace

int main(int argc, char** argv) { return emu_test::run_suite("ops_cuda.cu", argc, argv, ops_suite); }
