// model/vlm.cpp — prompt, image, splice, prefill and generation (contract in vlm.h).
#include "model/vlm.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "model/projector.h"
#include "model/siglip.h"
#include "tensor/error.h"
#include "tokenizer/chat.h"
#if TINYLLAVA_HAS_CUDA
#include "kernels/cuda/cuda_ops.h"
#endif
#include "weights/file.h"

namespace tl {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

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

// A CPU copy of a contiguous tensor on either device.
OwnedTensor host_copy(const Tensor& t) {
  OwnedTensor h = OwnedTensor::empty(t.dtype, t.shape_vec());
  if (t.device == Device::CPU)
    std::memcpy(h.tensor.data, t.data, t.nbytes());
  else
    cuda_copy_to_host(h.tensor.data, t.data, t.nbytes());
  return h;
}

// t on the CPU: itself when it is there already, else a copy.
OwnedTensor to_host(OwnedTensor t) { return t.tensor.device == Device::CPU ? std::move(t) : host_copy(t.tensor); }

}  // namespace

Vlm::Vlm(const std::string& dir, Device device) : model_(load_model(dir)), device_(device) {
  tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::load(join_path(dir, "tokenizer.model")));
  const int V = model_.config.text.vocab_size;
  if (tokenizer_->vocab_size() != V)
    fail_input("%s: %d pieces, but config.json has vocab_size %d (expected equal)",
               join_path(dir, "tokenizer.model").c_str(), tokenizer_->vocab_size(), V);
  if (device_ == Device::CUDA) {  // everything validated: now the upload
    if (!cuda_available()) fail_input("--device cuda: no CUDA device is visible (or this build has no CUDA)");
    device_weights_ = upload_weights(model_.weights);
    model_.checkpoint->release_pages();  // the host copy is no longer read: give its memory back
  }
  text_ = std::make_unique<OpenElm>(model_.weights.text, model_.config.text, /*mapped_source=*/true);
}

std::vector<int> Vlm::prompt_ids(const std::string& prompt, bool raw, bool with_image) const {
  return tl::prompt_ids(*tokenizer_, raw ? prompt : chat_prompt(prompt, with_image));
}

void Vlm::run(const Request& req, Trace& trace, const std::function<bool(int)>& on_token) {
  const VlmConfig& cfg = model_.config;
  const int64_t D = cfg.text.model_dim, V = cfg.text.vocab_size;

  // Prompt ids and their agreement with the image.
  trace.input_ids = prompt_ids(req.prompt, req.raw, req.pixels != nullptr);
  const int64_t markers = std::count(trace.input_ids.begin(), trace.input_ids.end(), kImageToken);
  if (req.pixels && markers == 0)
    fail_input("prompt: an image was given but the prompt has no <image> marker (with --raw, write <image> where it goes)");
  if (!req.pixels && markers > 0)
    fail_input("prompt: contains <image> but no image was given (use -i IMAGE or --pixels FILE.npy)");
  if (markers > 1) fail_input("prompt: %lld <image> markers (expected one: the model takes one image)", static_cast<long long>(markers));
  const int64_t image_rows = req.pixels ? cfg.image_tokens() : 0;
  const int64_t T = static_cast<int64_t>(trace.input_ids.size()) - markers + image_rows;
  const int64_t context = cfg.text.max_context_length;
  if (req.max_new_tokens < 0) fail_input("-n: expected a non-negative number of tokens, got %d", req.max_new_tokens);
  if (T + req.max_new_tokens > context)
    fail_input("prompt: %lld positions (%lld text tokens + %lld image tokens) + %d new tokens exceed the %lld-token "
               "context (shorten the prompt or lower -n)", static_cast<long long>(T),
               static_cast<long long>(T - image_rows), static_cast<long long>(image_rows), req.max_new_tokens,
               static_cast<long long>(context));
  trace.prompt_positions = T;

  // Image -> rows of the text model's width.
  OwnedTensor projected;  // (N, D) on the model's device
  if (req.pixels) {
    auto t0 = std::chrono::steady_clock::now();
    Tensor pixels = *req.pixels;
    OwnedTensor uploaded;
    if (device_ == Device::CUDA && pixels.device == Device::CPU) {
      uploaded = OwnedTensor::empty(DType::F32, pixels.shape_vec(), device_);
      cuda_copy_to_device(uploaded.tensor.data, pixels.data, pixels.nbytes());
      pixels = uploaded.tensor;
    }
    OwnedTensor features = siglip_features(model_.weights.vision, cfg, pixels);
    ops::synchronize(device_);  // GPU kernels are asynchronous: wait before reading the clock
    trace.vision_s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    projected = project_features(model_.weights.connector, features.tensor);
    ops::synchronize(device_);
    trace.projector_s = seconds_since(t0);
    if (req.keep_stages) {
      trace.features = to_host(std::move(features));
      trace.image_rows = host_copy(projected.tensor);
    }
  }

  // Embeddings: text ids embedded, the image rows in place of -200.
  OwnedTensor x = OwnedTensor::empty(DType::F32, {T, D}, device_);
  int64_t row = 0;
  for (int id : trace.input_ids) {
    if (id == kImageToken) {
      Tensor dst = x.tensor.rows(row, row + image_rows);
      ops::copy(projected.tensor, dst);
      row += image_rows;
    } else {
      Tensor r = x.tensor.rows(row, row + 1);
      text_->embed(&id, 1, r);
      ++row;
    }
  }

  // Prefill, then one token at a time through the same forward pass. Logits stay on the model's device;
  // greedy decoding takes the argmax there and brings back only the id.
  KvCache cache(cfg.text, T + std::max(req.max_new_tokens, 1), device_);
  trace.kv_cache_bytes = cache.bytes();
  trace.logits.assign(static_cast<size_t>(V), 0.0f);
  OwnedTensor logits = OwnedTensor::empty(DType::F32, {V}, device_);
  auto t0 = std::chrono::steady_clock::now();
  text_->forward(x.tensor, cache, logits.tensor);
  if (device_ == Device::CPU)
    std::memcpy(trace.logits.data(), logits.tensor.data, logits.tensor.nbytes());
  else
    cuda_copy_to_host(trace.logits.data(), logits.tensor.data, logits.tensor.nbytes());
  trace.prefill_s = seconds_since(t0);

  Sampler sampler(req.sampling);
  const bool greedy = req.sampling.temperature <= 0.0f;
  std::vector<float> host_logits(trace.logits);
  OwnedTensor emb = OwnedTensor::empty(DType::F32, {1, D}, device_);  // (1, D) the sampled token's row
  trace.tokens.clear();
  t0 = std::chrono::steady_clock::now();
  // The first token comes from the prefill logits (already on the host); then one step per token.
  int id = sampler.sample(host_logits.data(), static_cast<int>(V));
  auto emit = [&](int i) {
    trace.tokens.push_back(id);
    const bool more = !on_token || on_token(id);
    return !((id == cfg.text.eos_token_id && !req.ignore_eos) || !more || i + 1 == req.max_new_tokens);
  };
  if (req.max_new_tokens > 0 && emit(0)) {
#if TINYLLAVA_HAS_CUDA
    if (device_ == Device::CUDA && greedy && cuda_graphs_) {
      // Greedy on the GPU: the id never leaves the device between embed, forward and argmax; each step
      // is one CUDA graph launch, and only the id comes back (to stream it and test for EOS).
      Buffer d_id(sizeof(int), Device::CUDA);
      int* dev_id = static_cast<int*>(d_id.data());
      cuda_copy_to_device(dev_id, &id, sizeof id);
      // Nothing may allocate inside a capture: size the workspace for attention's split-K partials at the
      // cache's full length, and load the kernels a later step will be the first to launch.
      int64_t max_heads = 1;
      for (const TextLayerConfig& l : cfg.text.layers) max_heads = std::max<int64_t>(max_heads, l.num_query_heads);
      cuda::reserve_workspace(std::max<size_t>(16u << 20, cuda::attention_decode_workspace_bytes(
                                                              cache.capacity, max_heads, cfg.text.head_dim)));
      cuda::attention_load_kernels();
      cuda::StepGraph graph;
      auto step = [&] {
        cuda::embed_ids_on_device(text_->token_embeddings(), dev_id, 1, emb.tensor);
        text_->forward(emb.tensor, cache, logits.tensor);
        cuda::argmax_on_device(logits.tensor, dev_id);
      };
      for (int i = 1;; ++i) {
        if (i == 1)
          step();  // the first step runs plainly: it sizes every buffer outside a capture
        else
          graph.run(step);
        cuda_copy_to_host(&id, dev_id, sizeof id);
        if (!emit(i)) break;
      }
      trace.graph_instantiations = graph.instantiations();
      ops::synchronize(device_);
      trace.decode_s = seconds_since(t0);
      return;
    }
#endif
    for (int i = 1;; ++i) {
      text_->embed(&id, 1, emb.tensor);
      text_->forward(emb.tensor, cache, logits.tensor);
      if (device_ == Device::CPU) {
        id = sampler.sample(logits.tensor.ptr<float>(), static_cast<int>(V));
      } else if (greedy) {
        id = static_cast<int>(ops::argmax(logits.tensor));
      } else {
        cuda_copy_to_host(host_logits.data(), logits.tensor.data, logits.tensor.nbytes());
        id = sampler.sample(host_logits.data(), static_cast<int>(V));
      }
      if (!emit(i)) break;
    }
  }
  ops::synchronize(device_);
  trace.decode_s = seconds_since(t0);
}

}  // namespace tl
