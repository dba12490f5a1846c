// weights/loader.cpp — bind a checkpoint to ModelWeights, checking every tensor (contract in loader.h).
#include "weights/loader.h"

#include <unordered_set>

#include "tensor/error.h"
#include "tensor/quant.h"
#include "weights/layout.h"

namespace tl {

namespace {

// A quantized Linear weight: codes `e` (I8 -> Q8, U8 -> Q4) [N, quant_row_bytes] and its F16 scales
// [N, quant_groups(K)] under quant_scale_name(); returns the scales' entry.
const TensorEntry* check_quantized(const Checkpoint& ckpt, const VlmConfig& config, const TensorSpec& s,
                                   const TensorEntry* e, DType* q) {
  if (!s.quantizable)
    fail_input("%s: tensor \"%s\": dtype %s (expected F32, F16 or BF16: only Linear weights are quantized)",
               e->file->c_str(), s.name.c_str(), dtype_name(e->dtype));
  if (config.quant_format.empty())
    fail_input("%s: tensor \"%s\" holds %s codes, but config.json has no quantization_config", e->file->c_str(),
               s.name.c_str(), dtype_name(e->dtype));
  *q = e->dtype == DType::I8 ? DType::Q8 : DType::Q4;
  const int64_t N = s.shape[0], K = s.shape[1];
  const std::vector<int64_t> codes = {N, quant_row_bytes(*q, K)}, scales = {N, quant_groups(K)};
  if (e->shape != codes)
    fail_input("%s: tensor \"%s\": %s codes of shape %s (expected %s for %s weights of shape %s)", e->file->c_str(),
               s.name.c_str(), dtype_name(e->dtype), shape_str(e->shape).c_str(), shape_str(codes).c_str(),
               dtype_name(*q), shape_str(s.shape).c_str());
  const std::string scale_name = quant_scale_name(s.name);
  const TensorEntry* d = ckpt.find(scale_name);
  if (!d)
    fail_input("%s: missing tensor \"%s\" (the F16 scales %s of quantized \"%s\")", e->file->c_str(),
               scale_name.c_str(), shape_str(scales).c_str(), s.name.c_str());
  if (d->dtype != DType::F16 || d->shape != scales)
    fail_input("%s: tensor \"%s\": %s %s (expected F16 %s)", d->file->c_str(), scale_name.c_str(),
               dtype_name(d->dtype), shape_str(d->shape).c_str(), shape_str(scales).c_str());
  return d;
}

}  // namespace

uint64_t LoadedModel::used_bytes() const {
  uint64_t n = 0;
  for (const TensorEntry* e : used) n += e->nbytes;
  return n;
}

LoadedModel load_model(const std::string& dir) {
  LoadedModel m;
  m.dir = dir;
  m.checkpoint = std::make_unique<Checkpoint>(dir);  // first: names a missing directory as such
  m.config = load_config(join_path(dir, "config.json"));
  const Checkpoint& ckpt = *m.checkpoint;
  const std::string where = ckpt.files().size() == 1 ? ckpt.files()[0] : join_path(dir, "model.safetensors.index.json");

  std::vector<TensorSpec> layout = checkpoint_layout(m.config, &m.weights);
  std::unordered_set<std::string> known;
  for (const TensorSpec& s : layout) {
    known.insert(s.name);
    const TensorEntry* e = ckpt.find(s.name);
    if (!e) {
      if (!s.slot) continue;  // an unused part may be stripped from the file
      fail_input("%s: missing tensor \"%s\" (expected shape %s)", where.c_str(), s.name.c_str(), shape_str(s.shape).c_str());
    }
    std::vector<const TensorEntry*> entries = {e};
    Tensor view;
    if (e->dtype == DType::I8 || e->dtype == DType::U8) {
      DType q;
      const TensorEntry* scales = check_quantized(ckpt, m.config, s, e, &q);
      known.insert(scales->name);
      entries.push_back(scales);
      view = Tensor::view(const_cast<uint8_t*>(e->data), q, s.shape);
      view.scales = reinterpret_cast<const uint16_t*>(scales->data);
    } else {
      if (e->shape != s.shape)
        fail_input("%s: tensor \"%s\": wrong shape (expected %s, got %s)", e->file->c_str(), s.name.c_str(),
                   shape_str(s.shape).c_str(), shape_str(e->shape).c_str());
      view = e->view();
    }
    if (s.slot) *s.slot = view;
    for (const TensorEntry* x : entries) (s.slot ? m.used : m.unused).push_back(x);
  }
  for (const TensorEntry* e : ckpt.tensors())
    if (!known.count(e->name))
      fail_input("%s: unexpected tensor \"%s\" (not part of a TinyLLaVA-OpenELM-SigLIP checkpoint with this config)",
                 e->file->c_str(), e->name.c_str());
  if (m.config.text.share_input_output_layers) m.weights.text.lm_head = m.weights.text.token_embeddings;
  return m;
}

}  // namespace tl
