// model/engine.cpp — loading, upload and the image stage (contract in engine.h).
#include "model/engine.h"

#include "model/projector.h"
#include "model/siglip.h"
#include "tensor/clock.h"
#include "tensor/error.h"
#include "weights/file.h"

namespace tl {

namespace {

// Calls f on every weight tensor the forward pass reads.
template <typename F>
void for_each_weight(ModelWeights& w, F f) {
  f(w.vision.patch_w);
  f(w.vision.patch_b);
  f(w.vision.pos_emb);
  for (SiglipLayerWeights& L : w.vision.layers)
    for (Tensor* t : {&L.ln1_w, &L.ln1_b, &L.q_w, &L.k_w, &L.v_w, &L.q_b, &L.k_b, &L.v_b, &L.o_w, &L.o_b, &L.ln2_w,
                      &L.ln2_b, &L.fc1_w, &L.fc1_b, &L.fc2_w, &L.fc2_b})
      f(*t);
  for (Tensor* t : {&w.connector.w1, &w.connector.b1, &w.connector.w2, &w.connector.b2}) f(*t);
  f(w.text.token_embeddings);
  for (OpenElmLayerWeights& L : w.text.layers)
    for (Tensor* t : {&L.attn_norm, &L.qkv, &L.q_norm, &L.k_norm, &L.out_proj, &L.ffn_norm, &L.proj_1, &L.proj_2}) f(*t);
  f(w.text.norm);
  f(w.text.lm_head);
}

// Copies every weight to the device once (tensors that share memory, like a tied output head, share
// the copy) and points the views at the copies.
std::vector<Buffer> upload_weights(ModelWeights& weights) {
  std::vector<Buffer> buffers;
  std::vector<std::pair<const void*, void*>> done;  // host data -> device copy
  for_each_weight(weights, [&](Tensor& t) {
    if (!t.data || t.device != Device::CPU) return;  // absent (e.g. no q_norm) or already there
    void* dev = nullptr;
    for (const auto& d : done)
      if (d.first == t.data) dev = d.second;
    if (!dev) {
      buffers.emplace_back(t.nbytes(), Device::CUDA);
      cuda_copy_to_device(buffers.back().data(), t.data, t.nbytes());
      dev = buffers.back().data();
      done.emplace_back(t.data, dev);
    }
    t.data = dev;
    t.device = Device::CUDA;
  });
  return buffers;
}

int64_t context_from(const EngineOptions& o, const VlmConfig& c) {
  const int64_t max = c.text.max_context_length;
  if (o.context < 0 || o.context > max)
    fail_input("--ctx: %lld positions (expected 1 to the model's max_context_length, %lld)",
               static_cast<long long>(o.context), static_cast<long long>(max));
  return o.context > 0 ? o.context : max;
}

}  // namespace

uint64_t content_hash(const void* data, size_t bytes, uint64_t seed) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uint64_t h = seed;
  for (size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

Engine::Engine(const std::string& dir, const EngineOptions& options)
    : model_(load_model(dir)), options_(options), kernels_(options.kernels),
      context_(context_from(options, model_.config)) {
  tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::load(join_path(dir, "tokenizer.model")));
  const int V = model_.config.text.vocab_size;
  if (tokenizer_->vocab_size() != V)
    fail_input("%s: %d pieces, but config.json has vocab_size %d (expected equal)",
               join_path(dir, "tokenizer.model").c_str(), tokenizer_->vocab_size(), V);
  if (device() == Device::CUDA) {  // everything validated: now the upload
    if (!model_.config.quant_format.empty())
      fail_input("--device cuda: %s is a %s-quantized checkpoint; the CUDA kernels read F16, BF16 or F32 weights "
                 "only (run it on the CPU, or use the float checkpoint)",
                 dir.c_str(), model_.config.quant_format.c_str());
    if (!cuda_available()) fail_input("--device cuda: no CUDA device is visible (or this build has no CUDA)");
    device_weights_ = upload_weights(model_.weights);
    model_.checkpoint->release_pages();  // the host copy is no longer read: give its memory back
  }
  text_ = std::make_unique<OpenElm>(model_.weights.text, model_.config.text, /*mapped_source=*/true);
}

DType Engine::kv_dtype() const {
  return device() == Device::CPU && kernels_.precision() == ops::Precision::BF16 ? DType::F16 : DType::F32;
}

ImagePtr Engine::encode_image(const Tensor& pixels, bool keep_features, bool reuse) {
  const VisionConfig& v = config().vision;
  if (pixels.dtype != DType::F32 || pixels.device != Device::CPU || !pixels.has_shape({v.num_channels, v.image_size, v.image_size}))
    fail_input("pixel values: %s %s (expected F32 [%d, %d, %d])", dtype_name(pixels.dtype), shape_str(pixels).c_str(),
               v.num_channels, v.image_size, v.image_size);
  const uint64_t hash = content_hash(pixels.data, pixels.nbytes());
  if (reuse) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    for (const ImagePtr& e : images_)
      if (e->hash == hash && (!keep_features || e->features.tensor.data)) return e;
  }
  auto e = std::make_shared<ImageEmbedding>();
  e->hash = hash;
  auto t0 = Clock::now();
  OwnedTensor on_device = OwnedTensor::copy_of(pixels, device());
  OwnedTensor features = siglip_features(kernels_, model_.weights.vision, config(), on_device.tensor, vision_arena_);
  ops::synchronize(device());  // GPU kernels are asynchronous: wait before reading the clock
  e->vision_s = seconds_since(t0);
  t0 = Clock::now();
  e->rows = project_features(kernels_, model_.weights.connector, features.tensor);
  ops::synchronize(device());
  e->projector_s = seconds_since(t0);
  if (keep_features) e->features = OwnedTensor::copy_of(features.tensor);
  std::lock_guard<std::mutex> lock(cache_mu_);
  ++images_encoded_;
  if (images_.size() == kImageCache) images_.pop_front();
  images_.push_back(e);
  return e;
}

ImagePtr Engine::image_from_rows(const Tensor& rows, const std::string& source) {
  const int64_t N = config().image_tokens(), D = config().text.model_dim;
  if (rows.dtype != DType::F32 || rows.device != Device::CPU || !rows.has_shape({N, D}))
    fail_input("%s: image embeddings %s %s (expected F32 [%lld, %lld] for this checkpoint)", source.c_str(),
               dtype_name(rows.dtype), shape_str(rows).c_str(), static_cast<long long>(N), static_cast<long long>(D));
  auto e = std::make_shared<ImageEmbedding>();
  e->hash = content_hash(rows.data, rows.nbytes(), 0x9e3779b97f4a7c15ull);
  e->rows = OwnedTensor::copy_of(rows, device());
  return e;
}

}  // namespace tl
