// weights/file.cpp — MappedFile, read_file, and the huge-page memory decode weights are copied into.
#include "weights/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <new>
#include <utility>

#include "tensor/arith.h"
#include "tensor/error.h"

namespace tl {

namespace {

// An open file descriptor that closes itself.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void open_regular_file(const std::string& path, Fd* fd, size_t* size) {
  fd->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd->fd < 0) fail_input("%s: cannot open (%s)", path.c_str(), std::strerror(errno));
  struct stat st;
  if (::fstat(fd->fd, &st) != 0) fail_input("%s: cannot stat (%s)", path.c_str(), std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail_input("%s: not a regular file", path.c_str());
  *size = static_cast<size_t>(st.st_size);
}

}  // namespace

MappedFile::MappedFile(const std::string& path) : path_(path) {
  Fd fd;
  open_regular_file(path, &fd, &size_);
  if (size_ == 0) return;
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd.fd, 0);
  if (p == MAP_FAILED) fail_input("%s: cannot mmap %zu bytes (%s)", path.c_str(), size_, std::strerror(errno));
  data_ = static_cast<const uint8_t*>(p);
}

MappedFile::~MappedFile() { unmap(); }

void MappedFile::release_pages() const {
  if (data_) ::madvise(const_cast<uint8_t*>(data_), size_, MADV_DONTNEED);  // advice: failure is harmless
}

void MappedFile::unmap() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      path_(std::move(other.path_)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    unmap();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    path_ = std::move(other.path_);
  }
  return *this;
}

void release_mapped_pages(const void* p, size_t n) {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = round_up<uintptr_t>(reinterpret_cast<uintptr_t>(p), page);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);  // advice: failure is harmless
}

namespace {
constexpr size_t kHugePage = size_t{2} << 20;
}  // namespace

bool HugePageMemory::available() {
  static const bool on = [] {
    std::string mode;
    try {
      mode = read_file("/sys/kernel/mm/transparent_hugepage/enabled", 4096);
    } catch (const std::exception&) {
      return false;  // no THP support in this kernel
    }
    return mode.find("[never]") == std::string::npos;
  }();
  return on;
}

HugePageMemory::HugePageMemory(size_t bytes) {
  if (bytes == 0 || !available()) return;
  map_size_ = round_up<size_t>(bytes, kHugePage) + kHugePage;
  void* p = ::mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    map_size_ = 0;
    throw std::bad_alloc();
  }
  map_ = static_cast<uint8_t*>(p);
  data_ = reinterpret_cast<uint8_t*>(round_up<uintptr_t>(reinterpret_cast<uintptr_t>(p), kHugePage));
  size_ = bytes;
  ::madvise(data_, round_up<size_t>(bytes, kHugePage), MADV_HUGEPAGE);  // advice: 4 KiB pages still work
}

HugePageMemory::~HugePageMemory() { unmap(); }

void HugePageMemory::unmap() {
  if (map_) ::munmap(map_, map_size_);
  map_ = data_ = nullptr;
  map_size_ = size_ = 0;
}

HugePageMemory::HugePageMemory(HugePageMemory&& other) noexcept
    : map_(std::exchange(other.map_, nullptr)),
      map_size_(std::exchange(other.map_size_, 0)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

HugePageMemory& HugePageMemory::operator=(HugePageMemory&& other) noexcept {
  if (this != &other) {
    unmap();
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

std::string read_file(const std::string& path, size_t max_bytes) {
  Fd fd;
  size_t size = 0;
  open_regular_file(path, &fd, &size);
  if (size > max_bytes)
    fail_input("%s: file is %zu bytes (expected at most %zu)", path.c_str(), size, max_bytes);
  std::string out(size, '\0');
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd.fd, out.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_input("%s: read failed (%s)", path.c_str(), std::strerror(errno));
    if (n == 0) break;  // the file shrank under us
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

namespace {

bool non_empty_directory(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::is_directory(dir, ec) && !std::filesystem::is_empty(dir, ec);
}

}  // namespace

void write_directory_in_place(const std::string& dir, bool force, const std::function<void(const std::string&)>& write) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) fail_input("%s: exists and is not a directory", dir.c_str());
  if (non_empty_directory(dir) && !force) fail_input("%s: directory is not empty (use --force to replace it)", dir.c_str());
  fs::path dest = fs::absolute(fs::path(dir).lexically_normal(), ec);
  if (dest.filename().empty()) dest = dest.parent_path();  // "out/" names "out"
  const fs::path staging = dest.parent_path() / (dest.filename().string() + ".tmp");
  fs::remove_all(staging, ec);
  try {
    fs::create_directories(staging);
    write(staging.string());
    const fs::path old = dest.parent_path() / (dest.filename().string() + ".old");
    fs::remove_all(old, ec);
    const bool had_old = fs::exists(dest, ec);
    if (had_old) fs::rename(dest, old);
    std::error_code moved;
    fs::rename(staging, dest, moved);
    if (moved) {  // put the old directory back before reporting
      if (had_old) fs::rename(old, dest, ec);
      throw fs::filesystem_error("rename", staging, dest, moved);
    }
    fs::remove_all(old, ec);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(staging, ec);
    fail_input("%s: cannot write the directory (%s)", dir.c_str(), e.code().message().c_str());
  } catch (...) {
    fs::remove_all(staging, ec);
    throw;
  }
}

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

}  // namespace tl
