// weights/npy.cpp — .npy reading and writing (contract in npy.h).
#include "weights/npy.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tensor/error.h"
#include "weights/file.h"

namespace tl {

namespace {

void write_npy(const std::string& path, const char* descr, const std::vector<int64_t>& shape, const void* data,
               size_t elem) {
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i)  // Python's tuple syntax: (5,) for one dimension
    header += std::to_string(shape[i]) + (shape.size() == 1 ? "," : i + 1 < shape.size() ? ", " : "");
  header += "), }";
  // Pad with spaces so that magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  int64_t n = checked_numel(shape, path.c_str());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) fail_input("%s: cannot create (%s)", path.c_str(), std::strerror(errno));
  const uint8_t prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<uint8_t>(header.size() & 0xff),
                              static_cast<uint8_t>(header.size() >> 8)};
  bool ok = std::fwrite(prefix, 1, 10, f) == 10 && std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
            std::fwrite(data, elem, static_cast<size_t>(n), f) == static_cast<size_t>(n);
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) fail_input("%s: write failed (%s)", path.c_str(), std::strerror(errno));
}

// A strict reader for the header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 384, 384), }
class HeaderParser {
 public:
  HeaderParser(std::string_view s, const std::string& src) : s_(s), src_(src) {}

  void parse(std::string* descr, bool* fortran, std::vector<int64_t>* shape) {
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    expect('{');
    for (;;) {
      ws();
      if (peek() == '}') break;
      std::string key = quoted();
      ws();
      expect(':');
      ws();
      if (key == "descr") {
        *descr = quoted();
        seen_descr = true;
      } else if (key == "fortran_order") {
        *fortran = boolean();
        seen_fortran = true;
      } else if (key == "shape") {
        *shape = tuple();
        seen_shape = true;
      } else {
        fail("unexpected key '" + key + "'");
      }
      ws();
      if (peek() == ',') ++pos_;
      else if (peek() != '}') fail("expected ',' or '}'");
    }
    ++pos_;
    if (!seen_descr || !seen_fortran || !seen_shape) fail("needs 'descr', 'fortran_order' and 'shape'");
    ws();
    if (pos_ != s_.size()) fail("unexpected data after the header dictionary");
  }

 private:
  [[noreturn]] void fail(const std::string& what) { fail_input("%s: invalid .npy header: %s", src_.c_str(), what.c_str()); }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n')) ++pos_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string quoted() {
    char q = peek();
    if (q != '\'' && q != '"') fail("expected a quoted string");
    size_t end = s_.find(q, pos_ + 1);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string out(s_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return out;
  }
  bool boolean() {
    if (s_.compare(pos_, 4, "True") == 0) return pos_ += 4, true;
    if (s_.compare(pos_, 5, "False") == 0) return pos_ += 5, false;
    fail("expected True or False");
  }
  std::vector<int64_t> tuple() {
    std::vector<int64_t> out;
    expect('(');
    for (;;) {
      ws();
      if (peek() == ')') break;
      if (!(peek() >= '0' && peek() <= '9')) fail("shape must hold non-negative integers");
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (v > (INT64_MAX - 9) / 10) fail("dimension too large");
        v = v * 10 + (s_[pos_++] - '0');
      }
      out.push_back(v);
      ws();
      if (peek() == ',') ++pos_;
      else if (peek() != ')') fail("expected ',' or ')' in shape");
      if (out.size() > 8) fail("more than 8 dimensions");
    }
    ++pos_;
    return out;
  }

  std::string_view s_;
  const std::string& src_;
  size_t pos_ = 0;
};

}  // namespace

void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data) {
  write_npy(path, "<f4", shape, data, 4);
}

void write_npy_i64(const std::string& path, const std::vector<int64_t>& shape, const int64_t* data) {
  write_npy(path, "<i8", shape, data, 8);
}

OwnedTensor parse_npy_f32(const uint8_t* b, size_t size, const std::string& src) {
  const char* s = src.c_str();
  if (size < 10 || std::memcmp(b, "\x93NUMPY", 6) != 0) fail_input("%s: not a .npy file (bad magic)", s);
  const int major = b[6];
  size_t header_len, start;
  if (major == 1) {
    header_len = b[8] | (static_cast<size_t>(b[9]) << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) fail_input("%s: truncated .npy header", s);
    header_len = b[8] | (static_cast<size_t>(b[9]) << 8) | (static_cast<size_t>(b[10]) << 16) |
                 (static_cast<size_t>(b[11]) << 24);
    start = 12;
  } else {
    fail_input("%s: unsupported .npy version %d.%d (expected 1.0, 2.0 or 3.0)", s, b[6], b[7]);
  }
  if (header_len > (1u << 16) || header_len > size - start)
    fail_input("%s: .npy header length %zu runs past the end of the file", s, header_len);
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
  HeaderParser(std::string_view(reinterpret_cast<const char*>(b + start), header_len), src).parse(&descr, &fortran, &shape);
  if (descr != "<f4") fail_input("%s: dtype '%s' (expected float32 '<f4')", s, descr.c_str());
  if (fortran) fail_input("%s: Fortran order (expected C order)", s);
  if (shape.size() > 4) fail_input("%s: %zu dimensions (expected at most 4)", s, shape.size());
  int64_t n = checked_numel(shape, s);
  const size_t data_start = start + header_len;
  if (n > static_cast<int64_t>((size - data_start) / 4) || (size - data_start) != static_cast<size_t>(n) * 4)
    fail_input("%s: shape %s holds %lld float32 values, the file has %zu bytes of data (expected 4 per value)", s,
               shape_str(shape).c_str(), static_cast<long long>(n), size - data_start);
  OwnedTensor t = OwnedTensor::empty(DType::F32, shape);
  if (n > 0) std::memcpy(t.tensor.data, b + data_start, static_cast<size_t>(n) * 4);  // no data pointer when empty
  return t;
}

OwnedTensor read_npy_f32(const std::string& path) {
  MappedFile f(path);
  return parse_npy_f32(f.data(), f.size(), path);
}

}  // namespace tl
