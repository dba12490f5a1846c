// tests/weights/test_json.cpp — the strict JSON reader: valid documents decode exactly; each of the
// malformed documents below is refused with the byte offset of the problem; the writer round-trips.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tensor/error.h"
#include "weights/json.h"
#include "test_util.h"

using namespace tl;
using json::Value;

namespace {

Value parse(const std::string& s) { return json::parse(s, "test.json"); }

std::string parse_error(const std::string& s, const json::Limits& limits = {}) {
  return test::input_error([&] { json::parse(s, "test.json", limits); });
}

}  // namespace

TEST(Json, ScalarsAndContainers) {
  Value v = parse(R"( {"a": [1, -2, 3.5, 1e-06, -0, 0.0], "b": {"c": true, "d": false, "e": null}, "s": "x"} )");
  ASSERT_TRUE(v.is_object());
  const auto& a = v.find("a")->items();
  ASSERT_EQ(a.size(), 6u);
  EXPECT_TRUE(a[0].is_integer());
  EXPECT_EQ(a[0].as_int(), 1);
  EXPECT_EQ(a[1].as_int(), -2);
  EXPECT_FALSE(a[2].is_integer());
  EXPECT_EQ(a[2].as_number(), 3.5);
  EXPECT_EQ(a[3].as_number(), 1e-06);
  EXPECT_TRUE(a[4].is_integer());
  EXPECT_FALSE(a[5].is_integer());
  EXPECT_TRUE(v.find("b")->find("c")->as_bool());
  EXPECT_FALSE(v.find("b")->find("d")->as_bool());
  EXPECT_TRUE(v.find("b")->find("e")->is_null());
  EXPECT_EQ(v.find("s")->as_string(), "x");
  EXPECT_EQ(v.find("zz"), nullptr);
  EXPECT_EQ(v.members()[0].first, "a");  // insertion order kept
}

TEST(Json, LargeIntegersStayExact) {
  Value v = parse("[9007199254740993, -9223372036854775808, 18446744073709551616]");
  EXPECT_EQ(v.items()[0].as_int(), 9007199254740993ll);  // not representable as a double
  EXPECT_EQ(v.items()[1].as_int(), INT64_MIN);
  EXPECT_FALSE(v.items()[2].is_integer());  // beyond int64: a double
  EXPECT_EQ(v.items()[2].as_number(), 18446744073709551616.0);
}

TEST(Json, StringEscapesAndUnicode) {
  Value v = parse(R"(["\"\\\/\b\f\n\r\t", "\u0041\u00e9\u20ac", "\ud83d\ude00", "héllo €", "\u0000"])");
  EXPECT_EQ(v.items()[0].as_string(), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(v.items()[1].as_string(), "A\xc3\xa9\xe2\x82\xac");
  EXPECT_EQ(v.items()[2].as_string(), "\xf0\x9f\x98\x80");  // U+1F600 from a surrogate pair
  EXPECT_EQ(v.items()[3].as_string(), "h\xc3\xa9llo \xe2\x82\xac");
  EXPECT_EQ(v.items()[4].as_string(), std::string(1, '\0'));
}

TEST(Json, TinyNumbersUnderflowToZeroNotError) {
  Value v = parse("[1e-400, 4.9e-324]");
  EXPECT_EQ(v.items()[0].as_number(), 0.0);
  EXPECT_GT(v.items()[1].as_number(), 0.0);
}

TEST(Json, MalformedDocumentsAreRefusedWithOffset) {
  struct Case {
    std::string text;
    size_t offset;
  };
  const std::vector<Case> cases = {
      {"", 0},                      // empty
      {"   ", 3},                   // only whitespace
      {"{", 1},                     // unterminated object
      {"[", 1},                     // unterminated array
      {"[1,]", 3},                  // trailing comma in array
      {"{\"a\":1,}", 7},            // trailing comma in object
      {"{a:1}", 1},                 // unquoted key
      {"{\"a\" 1}", 5},             // missing colon
      {"{\"a\":1 \"b\":2}", 7},     // missing comma
      {"[1 2]", 3},                 // missing comma in array
      {"'x'", 0},                   // single quotes
      {"tru", 0},                   // truncated literal
      {"nul", 0},                   // truncated literal
      {"True", 0},                  // wrong case
      {"NaN", 0},                   // not JSON
      {"Infinity", 0},              // not JSON
      {"-", 1},                     // lone minus
      {"01", 1},                    // leading zero
      {"1.", 2},                    // missing fraction digits
      {".5", 0},                    // missing integer part
      {"1e", 2},                    // missing exponent digits
      {"+1", 0},                    // leading plus
      {"1e999", 0},                 // overflows a double
      {"\"abc", 4},                 // unterminated string
      {"\"a\x01\"", 2},             // raw control character
      {"\"\\x\"", 2},               // invalid escape
      {"\"\\u12\"", 3},             // truncated \u
      {"\"\\u12g4\"", 5},           // bad hex digit
      {"\"\\ud83d\"", 1},           // lone high surrogate
      {"\"\\ude00\"", 1},           // lone low surrogate
      {"\"\\ud83d\\u0041\"", 1},    // high surrogate + non-surrogate
      {"\"\xc3\"", 1},              // truncated UTF-8
      {"\"\xc0\xaf\"", 1},          // overlong UTF-8
      {"\"\xed\xa0\x80\"", 1},      // UTF-8 encoded surrogate
      {"\"\xf4\x90\x80\x80\"", 1},  // beyond U+10FFFF
      {"\"\xff\"", 1},              // invalid byte
      {"{\"a\":1,\"a\":2}", 7},     // duplicate key
      {"[1] x", 4},                 // trailing garbage
      {"\xef\xbb\xbf{}", 0},        // byte order mark
      {"{} {}", 3},                 // two documents
      {"[1,2,3,/*c*/4]", 7},        // comment
      {"\v1", 0},                   // vertical tab is not JSON whitespace
  };
  ASSERT_GE(cases.size(), 30u);
  for (const Case& c : cases) {
    std::string err = parse_error(c.text);
    ASSERT_FALSE(err.empty()) << "accepted: " << c.text;
    std::string want = "test.json: invalid JSON at byte " + std::to_string(c.offset) + ":";
    EXPECT_EQ(err.rfind(want, 0), 0u) << "for " << c.text << ": " << err;
  }
}

TEST(Json, DepthAndSizeLimits) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_NE(parse_error(deep).find("nesting deeper than 64"), std::string::npos);
  std::string ok(64, '[');
  ok += std::string(64, ']');
  EXPECT_NO_THROW(parse(ok));
  json::Limits small;
  small.max_bytes = 8;
  EXPECT_NE(parse_error("[1,2,3,4,5]", small).find("limit 8"), std::string::npos);
}

TEST(Json, ManyDuplicateKeysAreFoundQuickly) {
  // 200 000 keys: duplicate detection must not be quadratic.
  std::string s = "{";
  for (int i = 0; i < 200000; ++i) s += "\"k" + std::to_string(i) + "\":0,";
  s += "\"k123\":1}";
  EXPECT_NE(parse_error(s).find("duplicate key \"k123\""), std::string::npos);
}

TEST(Json, WriterRoundTrips) {
  Value v = Value::object();
  v.set("int", Value::integer(-42));
  v.set("float", Value::number(4.0));
  v.set("small", Value::number(1e-06));
  v.set("text", Value::string("tab\t quote\" nl\n ctrl\x01 é"));
  v.set("list", Value::array({Value(), Value::boolean(true), Value::array()}));
  v.set("empty", Value::object());
  for (int indent : {-1, 2}) {
    std::string s = json::dump(v, indent);
    Value back = parse(s);
    EXPECT_EQ(json::dump(back, indent), s);
    EXPECT_FALSE(back.find("float")->is_integer());  // "4.0" stays a float
    EXPECT_EQ(back.find("small")->as_number(), 1e-06);
    EXPECT_EQ(back.find("text")->as_string(), v.find("text")->as_string());
  }
  EXPECT_EQ(json::dump(Value::number(4.0)), "4.0");
  EXPECT_EQ(json::dump(Value::number(1e-06)), "1e-06");
}
