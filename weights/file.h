// weights/file.h — reading files: a read-only memory map and a bounded whole-file read.
//
// Errors name the path and the OS reason: "model/config.json: cannot open (No such file or directory)".
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
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

// Drops this process's pages of a read-only file mapping that lie wholly inside [p, p + n) (madvise
// DONTNEED); the range stays readable (pages come back from the file). For weights copied elsewhere.
// [p, p + n) must lie in such a mapping (a MappedFile): anonymous memory would read back as zeros.
void release_mapped_pages(const void* p, size_t n);

// Anonymous memory backed by transparent huge pages (2 MiB) where the kernel allows them: for weights
// streamed on every decode step, where a 4 KiB page per 4 KiB read costs a TLB walk and restarts the
// hardware prefetcher (model/openelm.cpp copies the decoder's matrices into it). Empty when the
// kernel has huge pages switched off (then there is nothing to gain); throws std::bad_alloc when the
// memory cannot be mapped.
class HugePageMemory {
 public:
  HugePageMemory() = default;
  explicit HugePageMemory(size_t bytes);
  ~HugePageMemory();
  HugePageMemory(HugePageMemory&& other) noexcept;
  HugePageMemory& operator=(HugePageMemory&& other) noexcept;
  HugePageMemory(const HugePageMemory&) = delete;
  HugePageMemory& operator=(const HugePageMemory&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  static bool available();  // /sys/kernel/mm/transparent_hugepage/enabled is not [never]

 private:
  void unmap();
  uint8_t* map_ = nullptr;  // the whole mapping (2 MiB of slack for alignment)
  size_t map_size_ = 0;
  uint8_t* data_ = nullptr;  // 2 MiB aligned, inside map_
  size_t size_ = 0;
};

// Reads a whole file; refuses files larger than max_bytes (BadInput naming the path and both sizes).
std::string read_file(const std::string& path, size_t max_bytes);

// Writes a directory through write(staging): into a sibling "<dir>.tmp", then renamed into place, so
// an interrupted or failed run never leaves a half-written directory where a good one was. A
// non-empty `dir` is refused (BadInput) unless `force`; a failed rename puts the old one back.
void write_directory_in_place(const std::string& dir, bool force, const std::function<void(const std::string&)>& write);

bool is_directory(const std::string& path);
bool file_exists(const std::string& path);
std::string join_path(const std::string& dir, const std::string& name);

}  // namespace tl
