// weights/file.h — reading files: a read-only memory map and a bounded whole-file read.
//
// Errors name the path and the OS reason: "model/config.json: cannot open (No such file or directory)".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tl {

// A read-only, private mapping of a whole file. Empty files map to {nullptr, 0}.
class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Drops the pages read so far from this process's memory (madvise DONTNEED); the mapping stays
  // valid and pages are read from the file again on the next access. For weights copied elsewhere.
  void release_pages() const;

 private:
  void unmap();
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Reads a whole file; refuses files larger than max_bytes (BadInput naming the path and both sizes).
std::string read_file(const std::string& path, size_t max_bytes);

bool is_directory(const std::string& path);
bool file_exists(const std::string& path);
std::string join_path(const std::string& dir, const std::string& name);

}  // namespace tl
