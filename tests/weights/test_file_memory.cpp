// tests/weights/test_file_memory.cpp — the memory decode weights live in (weights/file.h): dropping a
// range of a file mapping keeps it readable, and huge-page memory holds what is written to it.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>

#include "test_util.h"
#include "weights/file.h"

using namespace tl;
using tl::test::ScratchDir;

TEST(FileMemory, ReleasedRangeOfAMappingReadsBackFromTheFile) {
  ScratchDir dir;
  std::string bytes(5 * 4096 + 123, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7 + 1);
  tl::test::write_file(dir / "w.bin", bytes);
  MappedFile f(dir / "w.bin");
  ASSERT_EQ(f.size(), bytes.size());
  ASSERT_EQ(std::memcmp(f.data(), bytes.data(), bytes.size()), 0);  // every page resident
  release_mapped_pages(f.data() + 100, 3 * 4096);  // whole pages inside the range only
  release_mapped_pages(f.data() + 1, 10);          // no whole page: nothing
  EXPECT_EQ(std::memcmp(f.data(), bytes.data(), bytes.size()), 0);
}

TEST(FileMemory, HugePageMemoryIsWritableMovableAndEmptyWhenAskedForNothing) {
  EXPECT_EQ(HugePageMemory(0).data(), nullptr);
  if (!HugePageMemory::available()) GTEST_SKIP() << "transparent huge pages are off on this system";
  const size_t n = (size_t{5} << 20) + 3;  // 2 MiB pages and a tail
  HugePageMemory m(n);
  ASSERT_NE(m.data(), nullptr);
  EXPECT_EQ(m.size(), n);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(m.data()) % (size_t{2} << 20), 0u);
  for (size_t i = 0; i < n; i += 4093) m.data()[i] = static_cast<uint8_t>(i);
  m.data()[n - 1] = 0xab;
  HugePageMemory moved(std::move(m));
  EXPECT_EQ(m.data(), nullptr);
  ASSERT_NE(moved.data(), nullptr);
  for (size_t i = 0; i < n; i += 4093) ASSERT_EQ(moved.data()[i], static_cast<uint8_t>(i));
  EXPECT_EQ(moved.data()[n - 1], 0xab);
  HugePageMemory other(4096);
  other = std::move(moved);
  EXPECT_EQ(other.data()[n - 1], 0xab);
}
