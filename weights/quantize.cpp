// weights/quantize.cpp — float checkpoint -> Q8/Q4 checkpoint (contract in quantize.h).
#include "weights/quantize.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unordered_map>
#include <vector>

#include "tensor/arith.h"
#include "tensor/error.h"
#include "tensor/quant.h"
#include "weights/json.h"
#include "weights/layout.h"
#include "weights/loader.h"
#include "weights/safetensors.h"

namespace tl {

DType quantized_type_for(const std::string& tensor_name, DType requested) {
  const bool head = tensor_name.find("token_embeddings") != std::string::npos ||
                    tensor_name.find("lm_head") != std::string::npos;
  const bool image_side = tensor_name.rfind("vision_tower.", 0) == 0 || tensor_name.rfind("connector.", 0) == 0;
  return requested == DType::Q4 && (head || image_side) ? DType::Q8 : requested;
}

namespace {

// One tensor of the output: copied as stored, or quantized to `q`.
struct Job {
  const TensorEntry* src;
  DType q;  // F32 (meaning: copy) or Q8 / Q4
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  f.close();
  if (!f) fail_input("%s: cannot write", path.c_str());
}

// config.json with the quantization_config block added.
std::string quantized_config(const std::string& src_dir, DType type) {
  const std::string path = join_path(src_dir, "config.json");
  json::Value root = json::parse(read_file(path, 16u << 20), path);
  json::Value q = json::Value::object();
  q.set("quant_method", json::Value::string("tinyllava"));
  q.set("format", json::Value::string(type == DType::Q8 ? "q8" : "q4"));
  q.set("group_size", json::Value::integer(kQuantGroup));
  q.set("scale_dtype", json::Value::string("F16"));
  root.set("quantization_config", std::move(q));
  return json::dump(root, 2) + "\n";
}

// Every other file of the checkpoint directory (tokenizer.model, generation_config.json, ...).
void copy_side_files(const std::string& src_dir, const std::string& out_dir) {
  namespace fs = std::filesystem;
  for (const fs::directory_entry& f : fs::directory_iterator(src_dir)) {
    const std::string name = f.path().filename().string();
    if (!f.is_regular_file() || name == "config.json" || name.rfind("model.safetensors", 0) == 0) continue;
    fs::copy_file(f.path(), fs::path(out_dir) / name);
  }
}

// Rows [r0, r1) of `e` quantized to `q`: codes into `codes` (row-major), scales into `scales`.
void quantize_rows(const TensorEntry& e, DType q, int64_t r0, int64_t r1, uint8_t* codes, uint16_t* scales) {
  const int64_t K = e.shape[1], rb = quant_row_bytes(q, K), g = quant_groups(K);
  const size_t es = dtype_size(e.dtype);
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t r = r0; r < r1; ++r) {
    convert_to_f32(e.data + static_cast<size_t>(r * K) * es, e.dtype, row.data(), static_cast<size_t>(K));
    for (float v : row)
      if (!std::isfinite(v))
        fail_input("%s: tensor \"%s\": row %lld holds a non-finite value (cannot quantize)", e.file->c_str(),
                   e.name.c_str(), static_cast<long long>(r));
    quantize_row(q, row.data(), K, codes + (r - r0) * rb, scales + r * g);
  }
}

// Streams one quantized tensor: codes a block of rows at a time (threads split each block), then the
// scales tensor that follows it in the file.
void write_quantized(SafetensorsWriter& w, const TensorEntry& e, DType q, int threads) {
  const int64_t N = e.shape[0], K = e.shape[1], rb = quant_row_bytes(q, K);
  const int64_t block = std::max<int64_t>(threads, (int64_t{8} << 20) / std::max<int64_t>(1, K * 4));
  std::vector<uint16_t> scales(static_cast<size_t>(N * quant_groups(K)));
  std::vector<uint8_t> codes(static_cast<size_t>(block * rb));
  for (int64_t b0 = 0; b0 < N; b0 += block) {
    const int64_t b1 = std::min(N, b0 + block), per = ceil_div<int64_t>(b1 - b0, threads);
    std::vector<std::thread> pool;
    std::vector<std::exception_ptr> errors(threads);
    for (int t = 0; t < threads && b0 + t * per < b1; ++t)
      pool.emplace_back([&, t] {
        try {
          const int64_t r0 = b0 + t * per, r1 = std::min(b1, r0 + per);
          quantize_rows(e, q, r0, r1, codes.data() + (r0 - b0) * rb, scales.data());
        } catch (...) {
          errors[t] = std::current_exception();
        }
      });
    for (std::thread& th : pool) th.join();
    for (const std::exception_ptr& x : errors)
      if (x) std::rethrow_exception(x);
    w.write(codes.data(), static_cast<size_t>((b1 - b0) * rb));
  }
  w.write(scales.data(), scales.size() * sizeof(uint16_t));
}

uint64_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

QuantizeReport write_quantized_checkpoint(const std::string& src_dir, const std::string& out_dir,
                                          const QuantizeOptions& opt) {
  const LoadedModel m = load_model(src_dir);  // every tensor and the config validated first
  if (!m.config.quant_format.empty())
    fail_input("%s: already quantized (%s); quantize the float checkpoint", src_dir.c_str(),
               m.config.quant_format.c_str());
  std::unordered_map<std::string, bool> quantizable;
  for (const TensorSpec& s : checkpoint_layout(m.config)) quantizable[s.name] = s.quantizable;

  std::vector<Job> jobs;
  std::vector<SafetensorsWriter::Spec> specs;
  QuantizeReport report;
  for (const TensorEntry* e : m.checkpoint->tensors()) {
    if (!quantizable[e->name]) {
      jobs.push_back({e, DType::F32});
      specs.push_back({e->name, e->dtype, e->shape});
      ++report.copied;
      continue;
    }
    const DType q = quantized_type_for(e->name, opt.type);
    jobs.push_back({e, q});
    specs.push_back({e->name, quant_code_dtype(q), {e->shape[0], quant_row_bytes(q, e->shape[1])}});
    specs.push_back({quant_scale_name(e->name), DType::F16, {e->shape[0], quant_groups(e->shape[1])}});
    ++report.quantized;
  }
  write_text(join_path(out_dir, "config.json"), quantized_config(src_dir, opt.type));
  copy_side_files(src_dir, out_dir);
  const std::string path = join_path(out_dir, "model.safetensors");
  SafetensorsWriter w(path, specs, {{"format", "pt"}});
  const int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (const Job& j : jobs) {
    if (j.q == DType::F32)
      w.write(j.src->data, static_cast<size_t>(j.src->nbytes));
    else
      write_quantized(w, *j.src, j.q, threads);
  }
  w.finish();
  report.bytes_in = m.checkpoint->total_bytes();
  report.bytes_out = file_size(path);
  return report;
}

}  // namespace

QuantizeReport quantize_checkpoint(const std::string& src_dir, const std::string& out_dir, const QuantizeOptions& opt) {
  if (opt.type != DType::Q8 && opt.type != DType::Q4)
    fail_input("quantize: --type %s (expected q8 or q4)", dtype_name(opt.type));
  QuantizeReport report;
  write_directory_in_place(out_dir, opt.force, [&](const std::string& staging) {
    report = write_quantized_checkpoint(src_dir, staging, opt);
  });
  return report;
}

}  // namespace tl
