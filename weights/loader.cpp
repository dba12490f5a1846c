// weights/loader.cpp — bind a checkpoint to ModelWeights, checking every tensor (contract in loader.h).
#include "weights/loader.h"

#include <unordered_set>

#include "tensor/error.h"
#include "weights/layout.h"

namespace tl {

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
    if (e->shape != s.shape)
      fail_input("%s: tensor \"%s\": wrong shape (expected %s, got %s)", e->file->c_str(), s.name.c_str(),
                 shape_str(s.shape).c_str(), shape_str(e->shape).c_str());
    if (s.slot) {
      *s.slot = e->view();
      m.used.push_back(e);
    } else {
      m.unused.push_back(e);
    }
  }
  for (const TensorEntry* e : ckpt.tensors())
    if (!known.count(e->name))
      fail_input("%s: unexpected tensor \"%s\" (not part of a TinyLLaVA-OpenELM-SigLIP checkpoint with this config)",
                 e->file->c_str(), e->name.c_str());
  if (m.config.text.share_input_output_layers) m.weights.text.lm_head = m.weights.text.token_embeddings;
  return m;
}

}  // namespace tl
