// weights/quantize.h — `tinyllava quantize`: a float checkpoint rewritten with Q8/Q4 Linear weights.
//
// Reads a checkpoint directory (validated as load_model does) and writes another in the same HF
// layout: config.json gains a quantization_config block ({"quant_method": "tinyllava", "format":
// "q8"|"q4", "group_size": 32, "scale_dtype": "F16"}), and each Linear weight "<name>" of
// model.safetensors (TensorSpec::quantizable: OpenELM's qkv/out/proj_1/proj_2, the token embedding
// that is also the tied output head, SigLIP's q/k/v/out/fc1/fc2, the projector) becomes its codes
// "<name>" (I8 for Q8, U8 for Q4) plus its scales "<name>_scale" (F16) as tensor/quant.h defines
// them. Everything else (norms, biases, the patch and position embeddings, the unused pooling head)
// is copied byte for byte, and so is every other file of the directory (tokenizer.model, ...).
//
// Mixed precision, decided by measurement (README "Quantized checkpoints"): with q4 the token
// embedding / output head stays Q8 (its error reaches every logit directly), and so do the vision
// tower and the projector (all-Q4 SigLIP put 25 % relative error on the image features of the
// full-size model against 1.8 % at Q8; they do not count for decode speed).
//
// One streaming pass: rows are quantized a block at a time (threads split the block) and written in
// order, so memory stays bounded whatever the model size, and the output is the same for any thread
// count. Written beside the destination, then renamed (weights/file.h).
#pragma once

#include <cstdint>
#include <string>

#include "tensor/dtype.h"

namespace tl {

struct QuantizeOptions {
  DType type = DType::Q8;  // Q8 or Q4
  bool force = false;      // replace a non-empty output directory
  int threads = 0;         // 0: all hardware threads
};

struct QuantizeReport {
  int64_t quantized = 0, copied = 0;  // tensors
  uint64_t bytes_in = 0, bytes_out = 0;  // model.safetensors sizes
};

QuantizeReport quantize_checkpoint(const std::string& src_dir, const std::string& out_dir, const QuantizeOptions& options);

// The format a quantizable tensor gets for the requested type (Q4 keeps the embedding / head, the
// vision tower and the projector at Q8).
DType quantized_type_for(const std::string& tensor_name, DType requested);

}  // namespace tl
