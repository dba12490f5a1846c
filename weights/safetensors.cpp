// weights/safetensors.cpp — safetensors validation, mapping, sharded checkpoints and streaming writer.
#include "weights/safetensors.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tensor/error.h"
#include "weights/json.h"

namespace tl {

int64_t TensorEntry::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Tensor TensorEntry::view() const { return Tensor::view(const_cast<uint8_t*>(data), dtype, shape); }

// ---- Header validation ----------------------------------------------------------------------------

namespace {

// Every dtype name the safetensors format defines; those we cannot load are refused by name.
bool is_known_safetensors_dtype(const std::string& s) {
  static const char* const kKnown[] = {"BOOL", "U8",  "I8",  "I16",     "U16",     "F16",
                                       "BF16", "I32", "U32", "F32",     "F64",     "I64",
                                       "U64",  "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3",
                                       "F6_E3M2", "C64"};
  for (const char* k : kKnown)
    if (s == k) return true;
  return false;
}

uint64_t read_offset(const json::Value& v, const std::string& where) {
  if (!v.is_integer() || v.as_int() < 0)
    fail_input("%s: data_offsets must hold non-negative integers", where.c_str());
  return static_cast<uint64_t>(v.as_int());
}

TensorEntry parse_entry(const std::string& name, const json::Value& v, const std::string& path) {
  std::string where = path + ": tensor \"" + name + "\"";
  if (name.empty()) fail_input("%s: empty tensor name", path.c_str());
  if (!v.is_object()) fail_input("%s: entry is %s (expected an object)", where.c_str(), json::type_name(v.type()));
  for (const auto& m : v.members())
    if (m.first != "dtype" && m.first != "shape" && m.first != "data_offsets")
      fail_input("%s: unexpected key \"%s\" (expected dtype, shape, data_offsets)", where.c_str(), m.first.c_str());
  const json::Value* dtype = v.find("dtype");
  const json::Value* shape = v.find("shape");
  const json::Value* offsets = v.find("data_offsets");
  if (!dtype || !shape || !offsets) fail_input("%s: missing dtype, shape or data_offsets", where.c_str());

  TensorEntry e;
  e.name = name;
  if (!dtype->is_string()) fail_input("%s: dtype is %s (expected a string)", where.c_str(), json::type_name(dtype->type()));
  const std::string& ds = dtype->as_string();
  if (!dtype_from_name(ds, &e.dtype)) {
    if (is_known_safetensors_dtype(ds))
      fail_input("%s: unsupported dtype %s (expected F32, F16, BF16, I8 or U8)", where.c_str(), ds.c_str());
    fail_input("%s: unknown dtype \"%s\"", where.c_str(), ds.c_str());
  }

  if (!shape->is_array()) fail_input("%s: shape is %s (expected an array)", where.c_str(), json::type_name(shape->type()));
  if (shape->items().size() > static_cast<size_t>(Tensor::kMaxDims))
    fail_input("%s: %zu dimensions (expected at most %d)", where.c_str(), shape->items().size(), Tensor::kMaxDims);
  for (const json::Value& d : shape->items()) {
    if (!d.is_integer() || d.as_int() < 0) fail_input("%s: shape must hold non-negative integers", where.c_str());
    e.shape.push_back(d.as_int());
  }
  int64_t numel = checked_numel(e.shape, where.c_str());
  size_t esize = dtype_size(e.dtype);
  if (numel > INT64_MAX / static_cast<int64_t>(esize))
    fail_input("%s: shape %s overflows a 64-bit byte count", where.c_str(), shape_str(e.shape).c_str());

  if (!offsets->is_array() || offsets->items().size() != 2)
    fail_input("%s: data_offsets must be an array of 2 integers", where.c_str());
  uint64_t begin = read_offset(offsets->items()[0], where);
  uint64_t end = read_offset(offsets->items()[1], where);
  if (begin > end)
    fail_input("%s: data_offsets [%llu, %llu] out of range (begin after end)", where.c_str(),
               static_cast<unsigned long long>(begin), static_cast<unsigned long long>(end));
  uint64_t expected = static_cast<uint64_t>(numel) * esize;
  if (end - begin != expected)
    fail_input("%s: shape %s of %s needs %llu bytes but data_offsets span %llu (expected %llu, got %llu)",
               where.c_str(), shape_str(e.shape).c_str(), ds.c_str(), static_cast<unsigned long long>(expected),
               static_cast<unsigned long long>(end - begin), static_cast<unsigned long long>(expected),
               static_cast<unsigned long long>(end - begin));
  e.offset = begin;  // relative for now; made absolute once the data section start is known
  e.nbytes = expected;
  return e;
}

}  // namespace

SafetensorsHeader parse_safetensors(const uint8_t* bytes, size_t size, const std::string& path) {
  if (size < 8)
    fail_input("%s: file is %zu bytes, too short for the header length (expected at least 8)", path.c_str(), size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  if (n > kMaxSafetensorsHeader)
    fail_input("%s: header length %llu exceeds the limit (expected at most %llu)", path.c_str(),
               static_cast<unsigned long long>(n), static_cast<unsigned long long>(kMaxSafetensorsHeader));
  if (n > size - 8)
    fail_input("%s: header length %llu runs past the end of the file (expected at most %zu)", path.c_str(),
               static_cast<unsigned long long>(n), size - 8);

  std::string_view text(reinterpret_cast<const char*>(bytes + 8), static_cast<size_t>(n));
  json::Value root = json::parse(text, path + " (header)");
  if (!root.is_object())
    fail_input("%s: header is %s (expected a JSON object)", path.c_str(), json::type_name(root.type()));

  SafetensorsHeader h;
  h.data_start = 8 + n;
  for (const auto& m : root.members()) {
    if (m.first == "__metadata__") {
      if (!m.second.is_object()) fail_input("%s: __metadata__ must be an object of strings", path.c_str());
      for (const auto& kv : m.second.members()) {
        if (!kv.second.is_string())
          fail_input("%s: __metadata__ \"%s\" is %s (expected a string)", path.c_str(), kv.first.c_str(),
                     json::type_name(kv.second.type()));
        h.metadata.emplace_back(kv.first, kv.second.as_string());
      }
      continue;
    }
    h.tensors.push_back(parse_entry(m.first, m.second, path));
  }

  // Ranges: no overlaps, inside the data section, aligned for the element type.
  uint64_t data_size = size - h.data_start;
  std::vector<const TensorEntry*> by_begin;
  for (const TensorEntry& e : h.tensors) by_begin.push_back(&e);
  std::sort(by_begin.begin(), by_begin.end(), [](const TensorEntry* a, const TensorEntry* b) {
    return a->offset < b->offset || (a->offset == b->offset && a->nbytes < b->nbytes);
  });
  const TensorEntry* prev = nullptr;  // the non-empty tensor reaching furthest so far
  for (const TensorEntry* e : by_begin) {
    if (e->nbytes == 0) continue;
    if (prev && e->offset < prev->offset + prev->nbytes)
      fail_input("%s: tensor \"%s\" [%llu, %llu) overlaps tensor \"%s\" [%llu, %llu)", path.c_str(),
                 e->name.c_str(), static_cast<unsigned long long>(e->offset),
                 static_cast<unsigned long long>(e->offset + e->nbytes), prev->name.c_str(),
                 static_cast<unsigned long long>(prev->offset),
                 static_cast<unsigned long long>(prev->offset + prev->nbytes));
    prev = e;
  }
  for (TensorEntry& e : h.tensors) {
    if (e.offset + e.nbytes > data_size)
      fail_input("%s: data section truncated: tensor \"%s\" ends at byte %llu of the data section "
                 "(expected at most %llu)", path.c_str(), e.name.c_str(),
                 static_cast<unsigned long long>(e.offset + e.nbytes), static_cast<unsigned long long>(data_size));
    e.offset += h.data_start;
    if (e.offset % dtype_size(e.dtype) != 0)
      fail_input("%s: tensor \"%s\" data at file byte %llu is not aligned to its %zu-byte elements",
                 path.c_str(), e.name.c_str(), static_cast<unsigned long long>(e.offset), dtype_size(e.dtype));
    e.data = bytes + e.offset;
  }
  return h;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : map_(path) {
  header_ = parse_safetensors(map_.data(), map_.size(), path);
  for (TensorEntry& e : header_.tensors) e.file = &map_.path();
}

// ---- Checkpoint directories -----------------------------------------------------------------------

Checkpoint::Checkpoint(const std::string& dir) {
  if (!is_directory(dir)) fail_input("%s: not a checkpoint directory (expected a directory with model.safetensors)", dir.c_str());
  std::string single = join_path(dir, "model.safetensors");
  std::string index = join_path(dir, "model.safetensors.index.json");
  if (file_exists(single)) {
    add_file(single, nullptr);
    return;
  }
  if (!file_exists(index))
    fail_input("%s: no model.safetensors or model.safetensors.index.json in the directory", dir.c_str());

  json::Value root = json::parse(read_file(index, 64u << 20), index);
  const json::Value* map = root.is_object() ? root.find("weight_map") : nullptr;
  if (!map || !map->is_object()) fail_input("%s: weight_map: missing or not an object", index.c_str());
  std::vector<std::pair<std::string, std::vector<std::string>>> shards;  // file -> names, first-seen order
  for (const auto& m : map->members()) {
    if (!m.second.is_string()) fail_input("%s: weight_map \"%s\": expected a file name string", index.c_str(), m.first.c_str());
    const std::string& f = m.second.as_string();
    if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
      fail_input("%s: weight_map \"%s\": shard \"%s\" is not a plain file name", index.c_str(), m.first.c_str(), f.c_str());
    auto it = std::find_if(shards.begin(), shards.end(), [&](const auto& s) { return s.first == f; });
    if (it == shards.end()) it = shards.insert(shards.end(), {f, {}});
    it->second.push_back(m.first);
  }
  if (shards.empty()) fail_input("%s: weight_map is empty", index.c_str());
  for (const auto& s : shards) add_file(join_path(dir, s.first), &s.second);
}

void Checkpoint::add_file(const std::string& path, const std::vector<std::string>* expected_names) {
  files_.push_back(std::make_unique<SafetensorsFile>(path));
  const SafetensorsFile& f = *files_.back();
  for (const TensorEntry& e : f.tensors()) {
    if (!by_name_.emplace(e.name, &e).second)
      fail_input("%s: tensor \"%s\" also appears in another shard", path.c_str(), e.name.c_str());
    all_.push_back(&e);
  }
  if (!expected_names) return;
  if (expected_names->size() != f.tensors().size())
    fail_input("%s: holds %zu tensors but the index lists %zu for it", path.c_str(), f.tensors().size(),
               expected_names->size());
  for (const std::string& name : *expected_names) {
    auto it = by_name_.find(name);
    if (it == by_name_.end() || it->second->file != &f.path())
      fail_input("%s: tensor \"%s\" listed in the index is not in this shard", path.c_str(), name.c_str());
  }
}

const TensorEntry* Checkpoint::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<std::string> Checkpoint::files() const {
  std::vector<std::string> out;
  for (const auto& f : files_) out.push_back(f->path());
  return out;
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t n = 0;
  for (const auto& f : files_) n += f->file_size();
  return n;
}

void Checkpoint::release_pages() const {
  for (const auto& f : files_) f->release_pages();
}

// ---- Writer ---------------------------------------------------------------------------------------

SafetensorsWriter::SafetensorsWriter(const std::string& path, const std::vector<Spec>& tensors,
                                     const std::vector<std::pair<std::string, std::string>>& metadata)
    : path_(path) {
  json::Value header = json::Value::object();
  if (!metadata.empty()) {
    json::Value meta = json::Value::object();
    for (const auto& kv : metadata) meta.set(kv.first, json::Value::string(kv.second));
    header.set("__metadata__", std::move(meta));
  }
  uint64_t offset = 0;
  for (const Spec& s : tensors) {
    uint64_t nbytes = static_cast<uint64_t>(checked_numel(s.shape, s.name.c_str())) * dtype_size(s.dtype);
    json::Value shape = json::Value::array();
    for (int64_t d : s.shape) shape.push_back(json::Value::integer(d));
    json::Value offsets = json::Value::array({json::Value::integer(static_cast<int64_t>(offset)),
                                              json::Value::integer(static_cast<int64_t>(offset + nbytes))});
    header.set(s.name, json::Value::object({{"dtype", json::Value::string(dtype_name(s.dtype))},
                                            {"shape", std::move(shape)},
                                            {"data_offsets", std::move(offsets)}}));
    offset += nbytes;
  }
  data_bytes_ = offset;
  std::string text = json::dump(header);
  text.append((8 - text.size() % 8) % 8, ' ');  // pad so the data section starts 8-byte aligned
  data_start_ = 8 + text.size();

  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) fail_input("%s: cannot create (%s)", path.c_str(), std::strerror(errno));
  std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
  if (std::fwrite(len, 1, 8, f_) != 8 || std::fwrite(text.data(), 1, text.size(), f_) != text.size())
    fail_input("%s: write failed (%s)", path.c_str(), std::strerror(errno));
}

SafetensorsWriter::~SafetensorsWriter() {
  if (f_) std::fclose(f_);
}

void SafetensorsWriter::write(const void* bytes, size_t n) {
  TL_CHECK(f_ && written_ + n <= data_bytes_);
  if (std::fwrite(bytes, 1, n, f_) != n) fail_input("%s: write failed (%s)", path_.c_str(), std::strerror(errno));
  written_ += n;
}

void SafetensorsWriter::finish() {
  TL_CHECK(f_);
  if (written_ != data_bytes_)
    fail_internal("%s: wrote %llu data bytes, declared %llu", path_.c_str(),
                  static_cast<unsigned long long>(written_), static_cast<unsigned long long>(data_bytes_));
  int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) fail_input("%s: write failed (%s)", path_.c_str(), std::strerror(errno));
}

void SafetensorsWriter::finish_sparse() {
  TL_CHECK(f_ && written_ == 0);
  if (std::fflush(f_) != 0 || ::ftruncate(fileno(f_), static_cast<off_t>(data_start_ + data_bytes_)) != 0)
    fail_input("%s: cannot extend the file (%s)", path_.c_str(), std::strerror(errno));
  written_ = data_bytes_;
  finish();
}

}  // namespace tl
