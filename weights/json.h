// weights/json.h — a strict JSON (RFC 8259) reader and a small writer.
//
// Used for config.json, safetensors headers and model.safetensors.index.json — all files that may come
// from the internet — so the reader is strict and bounded:
//   * exactly one value, surrounded only by JSON whitespace (space, tab, LF, CR); no BOM, no comments,
//     no trailing commas, no NaN/Infinity, no leading zeros, no numbers that overflow a double;
//   * strings must be valid UTF-8 without raw control characters; every escape is decoded, including
//     \uXXXX surrogate pairs; a lone surrogate is an error;
//   * duplicate keys in one object are an error (found by sorting, so adversarial input stays O(n log n));
//   * limits on input size and nesting depth (no recursion past max_depth).
// Any error throws tl::Error(BadInput) "<source>: invalid JSON at byte <offset>: <what>".
//
// Numbers keep both a double and, for integer literals that fit, an exact int64 (is_integer()).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tl::json {

enum class Type { Null, Bool, Number, String, Array, Object };
const char* type_name(Type t);

class Value {
 public:
  using Member = std::pair<std::string, Value>;

  Value() = default;  // null
  static Value boolean(bool b);
  static Value number(double d);
  static Value integer(int64_t i);
  static Value string(std::string s);
  static Value array(std::vector<Value> items = {});
  static Value object(std::vector<Member> members = {});

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_integer() const { return type_ == Type::Number && is_int_; }  // an integer literal in int64
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  // Accessors check the type (internal error on misuse: callers check first).
  bool as_bool() const;
  double as_number() const;
  int64_t as_int() const;
  const std::string& as_string() const;
  const std::vector<Value>& items() const;
  const std::vector<Member>& members() const;
  const Value* find(std::string_view key) const;  // nullptr when absent (objects only)

  // Building documents for the writer.
  void push_back(Value v);
  void set(std::string key, Value v);  // appends; keys are kept in insertion order

 private:
  Type type_ = Type::Null;
  bool bool_ = false;
  bool is_int_ = false;
  double num_ = 0;
  int64_t int_ = 0;
  std::string str_;
  std::vector<Value> items_;
  std::vector<Member> members_;
};

struct Limits {
  size_t max_bytes = 100u << 20;  // 100 MB, the safetensors header limit
  int max_depth = 64;
};

// Parses `text`; `source` names the file in error messages.
Value parse(std::string_view text, std::string_view source, const Limits& limits = {});

// Serialises: compact when indent < 0, else pretty-printed with `indent` spaces. Non-integer numbers
// keep a decimal point or exponent ("4.0", "1e-06") so they read back as floats, as Python writes them.
std::string dump(const Value& v, int indent = -1);

}  // namespace tl::json
