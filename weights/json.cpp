// weights/json.cpp — strict JSON reader and writer (contract in json.h).
#include "weights/json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "tensor/error.h"

namespace tl::json {

const char* type_name(Type t) {
  switch (t) {
    case Type::Null: return "null";
    case Type::Bool: return "a boolean";
    case Type::Number: return "a number";
    case Type::String: return "a string";
    case Type::Array: return "an array";
    case Type::Object: return "an object";
  }
  return "?";
}

// ---- Value ----------------------------------------------------------------------------------------

Value Value::boolean(bool b) {
  Value v;
  v.type_ = Type::Bool;
  v.bool_ = b;
  return v;
}

Value Value::number(double d) {
  Value v;
  v.type_ = Type::Number;
  v.num_ = d;
  return v;
}

Value Value::integer(int64_t i) {
  Value v;
  v.type_ = Type::Number;
  v.num_ = static_cast<double>(i);
  v.int_ = i;
  v.is_int_ = true;
  return v;
}

Value Value::string(std::string s) {
  Value v;
  v.type_ = Type::String;
  v.str_ = std::move(s);
  return v;
}

Value Value::array(std::vector<Value> items) {
  Value v;
  v.type_ = Type::Array;
  v.items_ = std::move(items);
  return v;
}

Value Value::object(std::vector<Member> members) {
  Value v;
  v.type_ = Type::Object;
  v.members_ = std::move(members);
  return v;
}

static void expect_type(const Value& v, Type t) {
  if (v.type() != t)
    fail_internal("json: value is %s, accessed as %s", type_name(v.type()), type_name(t));
}

bool Value::as_bool() const { return expect_type(*this, Type::Bool), bool_; }
double Value::as_number() const { return expect_type(*this, Type::Number), num_; }
int64_t Value::as_int() const {
  if (!is_integer()) fail_internal("json: value is not an integer literal");
  return int_;
}
const std::string& Value::as_string() const { return expect_type(*this, Type::String), str_; }
const std::vector<Value>& Value::items() const { return expect_type(*this, Type::Array), items_; }
const std::vector<Value::Member>& Value::members() const {
  return expect_type(*this, Type::Object), members_;
}

const Value* Value::find(std::string_view key) const {
  for (const Member& m : members())
    if (m.first == key) return &m.second;
  return nullptr;
}

void Value::push_back(Value v) {
  expect_type(*this, Type::Array);
  items_.push_back(std::move(v));
}

void Value::set(std::string key, Value v) {
  expect_type(*this, Type::Object);
  members_.emplace_back(std::move(key), std::move(v));
}

// ---- Reader ---------------------------------------------------------------------------------------

namespace {

class Parser {
 public:
  Parser(std::string_view text, std::string_view source, const Limits& limits)
      : s_(text), source_(source), limits_(limits) {}

  Value parse_document() {
    if (s_.size() > limits_.max_bytes)
      error_at(0, strfmt("document is %zu bytes (limit %zu)", s_.size(), limits_.max_bytes));
    skip_ws();
    Value v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) error("unexpected data after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void error_at(size_t at, const std::string& what) const {
    fail_input("%.*s: invalid JSON at byte %zu: %s", static_cast<int>(source_.size()),
               source_.data(), at, what.c_str());
  }
  [[noreturn]] void error(const std::string& what) const { error_at(pos_, what); }

  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }

  void skip_ws() {
    while (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  void expect_literal(const char* lit) {
    size_t n = std::strlen(lit);
    if (s_.compare(pos_, n, lit) != 0) error(strfmt("invalid literal (expected '%s')", lit));
    pos_ += n;
  }

  Value parse_value(int depth) {
    if (at_end()) error("unexpected end of input (expected a value)");
    char c = s_[pos_];
    switch (c) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"': return Value::string(parse_string());
      case 't': expect_literal("true"); return Value::boolean(true);
      case 'f': expect_literal("false"); return Value::boolean(false);
      case 'n': expect_literal("null"); return Value();
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
        error(strfmt("unexpected character 0x%02x (expected a value)", static_cast<unsigned char>(c)));
    }
  }

  void check_depth(int depth) {
    if (depth > limits_.max_depth) error(strfmt("nesting deeper than %d levels", limits_.max_depth));
  }

  Value parse_array(int depth) {
    check_depth(depth);
    ++pos_;  // '['
    std::vector<Value> items;
    skip_ws();
    if (peek() == ']') {
      ++pos_;
      return Value::array(std::move(items));
    }
    for (;;) {
      skip_ws();
      items.push_back(parse_value(depth));
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return Value::array(std::move(items));
      }
      error(at_end() ? "unexpected end of input in array" : "expected ',' or ']' in array");
    }
  }

  Value parse_object(int depth) {
    check_depth(depth);
    ++pos_;  // '{'
    std::vector<Value::Member> members;
    std::vector<size_t> key_offsets;
    skip_ws();
    if (peek() == '}') {
      ++pos_;
      return Value::object(std::move(members));
    }
    for (;;) {
      skip_ws();
      if (peek() != '"') error(at_end() ? "unexpected end of input in object" : "expected a string key");
      key_offsets.push_back(pos_);
      std::string key = parse_string();
      skip_ws();
      if (peek() != ':') error("expected ':' after object key");
      ++pos_;
      skip_ws();
      Value v = parse_value(depth);
      members.emplace_back(std::move(key), std::move(v));
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        break;
      }
      error(at_end() ? "unexpected end of input in object" : "expected ',' or '}' in object");
    }
    check_duplicate_keys(members, key_offsets);
    return Value::object(std::move(members));
  }

  void check_duplicate_keys(const std::vector<Value::Member>& members,
                            const std::vector<size_t>& key_offsets) {
    std::vector<size_t> order(members.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return members[a].first < members[b].first || (members[a].first == members[b].first && a < b);
    });
    for (size_t i = 1; i < order.size(); ++i)
      if (members[order[i]].first == members[order[i - 1]].first)
        error_at(key_offsets[order[i]], "duplicate key \"" + members[order[i]].first + "\"");
  }

  unsigned parse_hex4() {
    if (s_.size() - pos_ < 4) error("truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else error_at(pos_ - 1, "invalid hex digit in \\u escape");
    }
    return v;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // Length of the valid UTF-8 sequence starting at pos_ (lead byte >= 0x80), or 0 if invalid.
  size_t utf8_sequence_length() const {
    auto byte = [&](size_t i) -> unsigned {
      return pos_ + i < s_.size() ? static_cast<unsigned char>(s_[pos_ + i]) : 0x100;
    };
    auto cont = [&](size_t i) { return (byte(i) & 0xC0) == 0x80 && byte(i) < 0x100; };
    unsigned b0 = byte(0), b1 = byte(1);
    if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
      if (b0 == 0xE0 && b1 < 0xA0) return 0;  // overlong
      if (b0 == 0xED && b1 > 0x9F) return 0;  // UTF-16 surrogate
      return cont(1) && cont(2) ? 3 : 0;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
      if (b0 == 0xF0 && b1 < 0x90) return 0;  // overlong
      if (b0 == 0xF4 && b1 > 0x8F) return 0;  // > U+10FFFF
      return cont(1) && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (at_end()) error("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) error(strfmt("raw control character 0x%02x in string", c));
      if (c == '\\') {
        ++pos_;
        parse_escape(out);
      } else if (c < 0x80) {
        out += static_cast<char>(c);
        ++pos_;
      } else {
        size_t n = utf8_sequence_length();
        if (n == 0) error("invalid UTF-8 in string");
        out.append(s_.data() + pos_, n);
        pos_ += n;
      }
    }
  }

  void parse_escape(std::string& out) {
    if (at_end()) error("unterminated escape");
    char e = s_[pos_++];
    switch (e) {
      case '"': out += '"'; return;
      case '\\': out += '\\'; return;
      case '/': out += '/'; return;
      case 'b': out += '\b'; return;
      case 'f': out += '\f'; return;
      case 'n': out += '\n'; return;
      case 'r': out += '\r'; return;
      case 't': out += '\t'; return;
      case 'u': break;
      default: error_at(pos_ - 1, strfmt("invalid escape '\\%c'", e));
    }
    size_t at = pos_ - 2;
    unsigned cp = parse_hex4();
    if (cp >= 0xDC00 && cp <= 0xDFFF) error_at(at, "unpaired low surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (s_.size() - pos_ < 2 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u')
        error_at(at, "high surrogate not followed by a \\u low surrogate");
      pos_ += 2;
      unsigned lo = parse_hex4();
      if (lo < 0xDC00 || lo > 0xDFFF) error_at(at, "high surrogate followed by a non-low surrogate");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    append_utf8(out, cp);
  }

  Value parse_number() {
    size_t start = pos_;
    bool integral = true;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
      if (peek() >= '0' && peek() <= '9') error("leading zero in number");
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++pos_;
    } else {
      error("expected a digit");
    }
    if (peek() == '.') {
      integral = false;
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) error("expected a digit after '.'");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) error("expected a digit in exponent");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    const char* b = s_.data() + start;
    const char* e = s_.data() + pos_;
    if (integral) {
      int64_t i = 0;
      auto r = std::from_chars(b, e, i);
      if (r.ec == std::errc() && r.ptr == e) return Value::integer(i);
    }
    double d = 0;
    auto r = std::from_chars(b, e, d);
    if (r.ec == std::errc::result_out_of_range) {
      // from_chars leaves d untouched on overflow and underflow alike; strtod tells them apart
      // (±HUGE_VAL for overflow; zero or a subnormal, a valid value, for underflow).
      d = std::strtod(std::string(b, e).c_str(), nullptr);
    } else if (r.ec != std::errc() || r.ptr != e) {
      error_at(start, "invalid number");
    }
    if (std::isinf(d)) error_at(start, "number out of range of a double");
    return Value::number(d);
  }

  std::string_view s_;
  std::string_view source_;
  Limits limits_;
  size_t pos_ = 0;
};

}  // namespace

Value parse(std::string_view text, std::string_view source, const Limits& limits) {
  return Parser(text, source, limits).parse_document();
}

// ---- Writer ---------------------------------------------------------------------------------------

static void dump_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) out += strfmt("\\u%04x", c);
        else out += static_cast<char>(c);
    }
  }
  out += '"';
}

static void dump_number(std::string& out, const Value& v) {
  if (v.is_integer()) {
    out += std::to_string(v.as_int());
    return;
  }
  double d = v.as_number();
  if (!std::isfinite(d)) fail_internal("json::dump: non-finite number");
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  out += s;
}

static void dump_value(std::string& out, const Value& v, int indent, int level) {
  auto newline = [&](int lvl) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent * lvl), ' ');
  };
  switch (v.type()) {
    case Type::Null: out += "null"; return;
    case Type::Bool: out += v.as_bool() ? "true" : "false"; return;
    case Type::Number: dump_number(out, v); return;
    case Type::String: dump_string(out, v.as_string()); return;
    case Type::Array: {
      out += '[';
      const auto& items = v.items();
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        newline(level + 1);
        dump_value(out, items[i], indent, level + 1);
      }
      if (!items.empty()) newline(level);
      out += ']';
      return;
    }
    case Type::Object: {
      out += '{';
      const auto& members = v.members();
      for (size_t i = 0; i < members.size(); ++i) {
        if (i) out += ',';
        newline(level + 1);
        dump_string(out, members[i].first);
        out += indent < 0 ? ":" : ": ";
        dump_value(out, members[i].second, indent, level + 1);
      }
      if (!members.empty()) newline(level);
      out += '}';
      return;
    }
  }
}

std::string dump(const Value& v, int indent) {
  std::string out;
  dump_value(out, v, indent, 0);
  return out;
}

}  // namespace tl::json
