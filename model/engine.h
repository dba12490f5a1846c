// model/engine.h — a loaded TinyLLaVA checkpoint and the stages that do not depend on a conversation.
//
// The pipeline, as model.chat() runs it, split into stages that can be called on their own:
//   encode_image   pixels [3, S, S] -> SigLIP features -> connector -> image rows [N, D]
//                  (siglip.h, projector.h); cached by the pixels' content hash
//   Session        (session.h) owns a KV cache and a conversation: prefill, decode_step, sample
// Everything the kernels need to know (device, precision, reference kernels, threads, ISA ceiling) is
// one EngineOptions value, resolved once into an ops::Context that the stages pass down: the engine
// holds no process-wide state, and two engines with different options can live in one process.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "model/openelm.h"
#include "tokenizer/tokenizer.h"
#include "weights/loader.h"

namespace tl {

struct EngineOptions {
  Device device = Device::CPU;  // CUDA: weights uploaded once, every stage after preprocessing on the GPU
  ops::Options kernels;         // precision, reference kernels, threads, ISA ceiling (kernels/ops.h)
  int64_t context = 0;          // positions a session may hold; 0: config max_context_length
  bool cuda_graphs = true;      // CUDA greedy decoding: each step replayed as one CUDA graph
};

// An image's rows in the text model's width, ready to splice where its <image> marker is.
struct ImageEmbedding {
  OwnedTensor rows;          // (N, D) on the engine's device
  OwnedTensor features;      // (N, Dv) SigLIP features on the CPU, when asked for (dump); else empty
  uint64_t hash = 0;         // of the pixels (encode_image) or of the rows (from_rows): the cache key
  double vision_s = 0, projector_s = 0;  // 0 when it came from the cache or a file
};
using ImagePtr = std::shared_ptr<const ImageEmbedding>;

class Engine {
 public:
  // Loads and validates a checkpoint directory: config.json, safetensors, tokenizer.model.
  explicit Engine(const std::string& dir, const EngineOptions& options = {});

  // Pixels [C, S, S] (F32, CPU, preprocessed: model/image.h) -> the projected rows. An image whose
  // pixels this engine encoded recently (the last kImageCache) comes from the cache unless `reuse` is
  // false (benchmarks); keep_features asks for the vision tower's output too (and bypasses a cached
  // entry without it). vision_s/projector_s are those of the run that encoded it.
  ImagePtr encode_image(const Tensor& pixels, bool keep_features = false, bool reuse = true);
  // Rows computed elsewhere (`tinyllava embed`, F32 [N, D] on the CPU): checked against the config.
  ImagePtr image_from_rows(const Tensor& rows, const std::string& source);
  int64_t images_encoded() const { return images_encoded_; }  // vision tower runs so far

  const LoadedModel& model() const { return model_; }
  const VlmConfig& config() const { return model_.config; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const EngineOptions& options() const { return options_; }
  const ops::Context& kernels() const { return kernels_; }
  Device device() const { return options_.device; }
  int64_t context_length() const { return context_; }
  // The KV cache's element type: F16 on the CPU's bf16 path (half the bytes decode attention reads),
  // F32 on the exact path and on the GPU.
  DType kv_dtype() const;
  OpenElm& text() { return *text_; }

 private:
  LoadedModel model_;
  EngineOptions options_;
  ops::Context kernels_;
  int64_t context_ = 0;
  std::vector<Buffer> device_weights_;  // the uploaded weights (Device::CUDA), viewed by model_.weights
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<OpenElm> text_;
  Arena vision_arena_;  // SigLIP's activations, reused from one image to the next
  std::mutex cache_mu_;
  static constexpr size_t kImageCache = 8;
  std::deque<ImagePtr> images_;  // the most recently encoded last
  int64_t images_encoded_ = 0;
};

// FNV-1a over bytes (image cache keys).
uint64_t content_hash(const void* data, size_t bytes, uint64_t seed = 1469598103934665603ull);

}  // namespace tl
