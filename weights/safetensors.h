// weights/safetensors.h — reading and writing .safetensors checkpoints.
//
// Format: u64 little-endian header length N | N bytes of JSON header | data section.
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative
// to the data section); an optional "__metadata__" maps strings to strings.
//
// Reading validates everything before any tensor data is touched, with one specific message per failure:
//   file shorter than 8 bytes; header length > 100 MB or past the end of the file; header not strict
//   JSON (weights/json.h) or not an object; an entry that is not {dtype, shape, data_offsets}; unknown
//   dtype, or a known one this engine does not load (anything but F32/F16/BF16 and the I8/U8 of
//   quantized codes), named; more than 4
//   dimensions; shape product overflow; shape × dtype size != span of data_offsets; begin > end;
//   data misaligned for its element size; tensors overlapping; a tensor past the end of the data
//   section (truncated file). Duplicate names are rejected by the JSON reader.
// Tensor data stays in the read-only mmap; TensorEntry::view() is a Tensor pointing into it.
//
// A checkpoint directory holds model.safetensors, or shards listed in model.safetensors.index.json
// ({"weight_map": {name: shard file}}); Checkpoint opens either and indexes all tensors by name.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tensor/tensor.h"
#include "weights/file.h"

namespace tl {

constexpr uint64_t kMaxSafetensorsHeader = 100ull << 20;

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // byte offset of the data from the start of the file
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;  // into the mapping (nullptr for zero-size tensors of empty files)
  const std::string* file = nullptr;  // path of the file holding it

  int64_t numel() const;
  Tensor view() const;  // a CPU Tensor over the mapped data
};

struct SafetensorsHeader {
  std::vector<TensorEntry> tensors;  // in header order; data pointers unset
  std::vector<std::pair<std::string, std::string>> metadata;
  uint64_t data_start = 0;  // 8 + header length
};

// Validates a whole safetensors image in memory (the file mapped, or a fuzzer's bytes). `path` names it
// in errors. Data pointers in the result point into `bytes`.
SafetensorsHeader parse_safetensors(const uint8_t* bytes, size_t size, const std::string& path);

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  SafetensorsFile(const SafetensorsFile&) = delete;  // entries point at our path: never moved
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  const std::string& path() const { return map_.path(); }
  const std::vector<TensorEntry>& tensors() const { return header_.tensors; }
  const std::vector<std::pair<std::string, std::string>>& metadata() const { return header_.metadata; }
  uint64_t file_size() const { return map_.size(); }
  void release_pages() const { map_.release_pages(); }

 private:
  MappedFile map_;
  SafetensorsHeader header_;
};

class Checkpoint {
 public:
  // `dir` is a checkpoint directory (model.safetensors, else model.safetensors.index.json).
  explicit Checkpoint(const std::string& dir);

  const TensorEntry* find(const std::string& name) const;
  const std::vector<const TensorEntry*>& tensors() const { return all_; }  // every tensor, file order
  std::vector<std::string> files() const;
  uint64_t total_bytes() const;  // sum of the file sizes
  // Drops the mapped pages from memory (after the weights were uploaded to a GPU); still readable.
  void release_pages() const;

 private:
  void add_file(const std::string& path, const std::vector<std::string>* expected_names);
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<const TensorEntry*> all_;
  std::unordered_map<std::string, const TensorEntry*> by_name_;
};

// Streams a safetensors file to disk without holding the data in memory: the header is written by the
// constructor, then each tensor's bytes, in the order given, through write().
class SafetensorsWriter {
 public:
  struct Spec {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
  };
  SafetensorsWriter(const std::string& path, const std::vector<Spec>& tensors,
                    const std::vector<std::pair<std::string, std::string>>& metadata = {});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  void write(const void* bytes, size_t n);  // appends data; must not exceed the declared total
  void finish();         // checks that exactly the declared bytes were written, flushes, closes
  void finish_sparse();  // leaves all data as a hole of zero bytes (instant, no disk blocks)
  uint64_t data_bytes() const { return data_bytes_; }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  uint64_t data_start_ = 0;
  uint64_t data_bytes_ = 0;
  uint64_t written_ = 0;
};

}  // namespace tl
