// tests/weights/test_safetensors.cpp — the safetensors reader and writer: files the project writes
// read back exactly; each malformed class is refused with its own message naming the file; sharded
// checkpoints through model.safetensors.index.json.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tensor/error.h"
#include "test_util.h"
#include "weights/safetensors.h"

using namespace tl;
using tl::test::input_error;
using tl::test::ScratchDir;
using tl::test::write_file;

namespace {

// A safetensors image: 8-byte little-endian length, header text, data bytes.
std::string image(const std::string& header, const std::string& data = "") {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + header + data;
}

// The error message for reading `bytes` as a file, or "" if it was accepted.
std::string read_error(const std::string& bytes) {
  ScratchDir dir;
  std::string path = dir / "model.safetensors";
  write_file(path, bytes);
  const std::string msg = input_error([&] { SafetensorsFile f(path); });
  if (!msg.empty()) {
    EXPECT_EQ(msg.rfind(path, 0), 0u) << "message does not start with the path: " << msg;
  }
  return msg;
}

#define EXPECT_REFUSED(bytes, fragment)                                              \
  do {                                                                               \
    std::string err_ = read_error(bytes);                                            \
    EXPECT_NE(err_.find(fragment), std::string::npos) << "error was: '" << err_ << "'"; \
  } while (0)

}  // namespace

TEST(Safetensors, WriterOutputReadsBackExactly) {
  ScratchDir dir;
  std::string path = dir / "t.safetensors";
  std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -1.0f};
  std::vector<uint16_t> b = {0x3c00, 0xc000, 0x7bff};
  {
    SafetensorsWriter w(path, {{"a.weight", DType::F32, {2, 3}}, {"b", DType::F16, {3}}, {"empty", DType::BF16, {0, 4}}},
                        {{"format", "pt"}});
    w.write(a.data(), a.size() * 4);
    w.write(b.data(), b.size() * 2);
    w.finish();
  }
  SafetensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), 3u);
  ASSERT_EQ(f.metadata().size(), 1u);
  EXPECT_EQ(f.metadata()[0].second, "pt");
  const TensorEntry& ea = f.tensors()[0];
  EXPECT_EQ(ea.name, "a.weight");
  EXPECT_EQ(ea.dtype, DType::F32);
  EXPECT_EQ(ea.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(ea.offset % 8, 0u);  // header padded so data is aligned
  EXPECT_EQ(std::memcmp(ea.data, a.data(), 24), 0);
  Tensor tb = f.tensors()[1].view();
  EXPECT_TRUE(tb.has_shape({3}));
  EXPECT_EQ(tb.ptr<uint16_t>()[2], 0x7bff);
  EXPECT_EQ(f.tensors()[2].nbytes, 0u);
  // Dropping the pages (after a GPU upload) keeps the mapping readable: the data comes back from the file.
  f.release_pages();
  EXPECT_EQ(std::memcmp(ea.data, a.data(), 24), 0);
  EXPECT_EQ(tb.ptr<uint16_t>()[2], 0x7bff);
}

TEST(Safetensors, SparseWriterMakesZeroData) {
  ScratchDir dir;
  std::string path = dir / "s.safetensors";
  SafetensorsWriter w(path, {{"big", DType::F16, {1024, 1024}}});
  w.finish_sparse();
  SafetensorsFile f(path);
  const uint8_t* d = f.tensors()[0].data;
  EXPECT_EQ(d[0], 0);
  EXPECT_EQ(d[2 * 1024 * 1024 - 1], 0);
}

TEST(Safetensors, EmptyFile) { EXPECT_REFUSED("", "file is 0 bytes, too short for the header length"); }

TEST(Safetensors, SevenByteFile) { EXPECT_REFUSED(std::string("\x02\0\0\0\0\0\0", 7), "file is 7 bytes, too short"); }

TEST(Safetensors, HeaderLengthPastEndOfFile) {
  std::string b = image("{}");
  b[0] = 100;
  EXPECT_REFUSED(b, "header length 100 runs past the end of the file (expected at most 2)");
}

TEST(Safetensors, HeaderLengthOverLimit) {
  std::string b = image("{}");
  b[3] = 0x10;  // 256 MiB
  EXPECT_REFUSED(b, "exceeds the limit");
}

TEST(Safetensors, HeaderNotJson) { EXPECT_REFUSED(image("{not json}"), "(header): invalid JSON at byte 1"); }

TEST(Safetensors, HeaderNotAnObject) { EXPECT_REFUSED(image("[1, 2]"), "header is an array (expected a JSON object)"); }

TEST(Safetensors, UnknownDtype) {
  EXPECT_REFUSED(image(R"({"x":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}})", "\0"), "unknown dtype \"Q4\"");
}

TEST(Safetensors, UnsupportedDtypeIsNamed) {
  EXPECT_REFUSED(image(R"({"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", std::string(8, '\0')),
                 "unsupported dtype I64 (expected F32, F16, BF16, I8 or U8)");
}

TEST(Safetensors, ShapeSpanMismatch) {
  EXPECT_REFUSED(image(R"({"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", std::string(12, '\0')),
                 "needs 16 bytes but data_offsets span 12");
}

TEST(Safetensors, ShapeOverflow) {
  EXPECT_REFUSED(image(R"({"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})"),
                 "overflows a 64-bit");
}

TEST(Safetensors, OffsetsOutOfRange) {
  EXPECT_REFUSED(image(R"({"x":{"dtype":"F16","shape":[0],"data_offsets":[4,2]}})", std::string(4, '\0')),
                 "out of range (begin after end)");
  EXPECT_REFUSED(image(R"({"x":{"dtype":"F16","shape":[1],"data_offsets":[-2,0]}})", std::string(4, '\0')),
                 "data_offsets must hold non-negative integers");
}

TEST(Safetensors, OverlappingTensors) {
  EXPECT_REFUSED(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", std::string(12, '\0')),
                 "tensor \"b\" [4, 12) overlaps tensor \"a\" [0, 8)");
}

TEST(Safetensors, DuplicateNames) {
  EXPECT_REFUSED(image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0')),
                 "duplicate key \"a\"");
}

TEST(Safetensors, DataSectionTruncated) {
  EXPECT_REFUSED(image(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(10, '\0')),
                 "data section truncated: tensor \"a\" ends at byte 16 of the data section (expected at most 10)");
}

TEST(Safetensors, MisalignedData) {
  // Header of odd length: the F16 data starts at an odd file offset.
  std::string h = R"({"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})";
  if ((8 + h.size()) % 2 == 0) h += " ";
  EXPECT_REFUSED(image(h, std::string(2, '\0')), "is not aligned to its 2-byte elements");
}

TEST(Safetensors, MalformedEntries) {
  EXPECT_REFUSED(image(R"({"a":[1]})"), "entry is an array (expected an object)");
  EXPECT_REFUSED(image(R"({"a":{"dtype":"F32","shape":[1]}})"), "missing dtype, shape or data_offsets");
  EXPECT_REFUSED(image(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", "xxxx"), "shape must hold non-negative integers");
  EXPECT_REFUSED(image(R"({"a":{"dtype":"F32","shape":[1,1,1,1,1],"data_offsets":[0,4]}})", "xxxx"), "5 dimensions (expected at most 4)");
  EXPECT_REFUSED(image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", "xxxx"), "unexpected key \"x\"");
  EXPECT_REFUSED(image(R"({"__metadata__":{"k":1}})"), "__metadata__ \"k\" is a number (expected a string)");
  EXPECT_REFUSED(image(R"({"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "xxxx"), "empty tensor name");
}

TEST(Safetensors, AcceptsMetadataAndZeroSizedTensors) {
  std::string h = R"({"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[0],"data_offsets":[0,0]},)"
                  R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})";
  h.append((8 - (8 + h.size()) % 8) % 8, ' ');
  EXPECT_EQ(read_error(image(h, "abcd")), "");
}

TEST(Checkpoint, ShardedThroughIndex) {
  ScratchDir dir;
  {
    SafetensorsWriter w(dir / "model-00001-of-00002.safetensors", {{"a", DType::F32, {1}}});
    float v = 1.0f;
    w.write(&v, 4);
    w.finish();
    SafetensorsWriter w2(dir / "model-00002-of-00002.safetensors", {{"b", DType::F32, {1}}, {"c", DType::F16, {2}}});
    float u = 2.0f;
    uint16_t h[2] = {0, 0};
    w2.write(&u, 4);
    w2.write(h, 4);
    w2.finish();
  }
  write_file(dir / "model.safetensors.index.json",
             R"({"metadata":{"total_size":12},"weight_map":{"a":"model-00001-of-00002.safetensors",)"
             R"("b":"model-00002-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}})");
  Checkpoint c(dir.path());
  EXPECT_EQ(c.tensors().size(), 3u);
  EXPECT_EQ(c.files().size(), 2u);
  ASSERT_NE(c.find("b"), nullptr);
  EXPECT_EQ(*reinterpret_cast<const float*>(c.find("b")->data), 2.0f);
  EXPECT_EQ(c.find("zz"), nullptr);

  // The index names a tensor in the wrong shard.
  write_file(dir / "model.safetensors.index.json",
             R"({"weight_map":{"a":"model-00002-of-00002.safetensors","b":"model-00001-of-00002.safetensors",)"
             R"("c":"model-00002-of-00002.safetensors"}})");
  EXPECT_THROW(Checkpoint c2(dir.path()), Error);
  // A shard outside the directory.
  write_file(dir / "model.safetensors.index.json", R"({"weight_map":{"a":"../x.safetensors"}})");
  try {
    Checkpoint c3(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not a plain file name"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, MissingFilesAreNamed) {
  ScratchDir dir;
  try {
    Checkpoint c(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no model.safetensors or model.safetensors.index.json"), std::string::npos);
  }
  try {
    Checkpoint c(dir / "nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a checkpoint directory"), std::string::npos);
  }
}
