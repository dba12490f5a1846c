// tests/server/test_protocol.cpp — the OpenAI request parser (protocol.h) and the answer's text filter
// (AnswerText): what is accepted, what is refused and with which field named, base64, stop strings and
// stripping held back across pieces.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "model/server/protocol.h"
#include "fuzz/request_check.h"
#include "model/server/scheduler.h"

using namespace tl::server;

namespace {

std::string param_of(const std::string& body, bool chat = true) {
  try {
    parse_request(body, chat);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_FALSE(std::string(e.what()).empty());
    return e.param.empty() ? "(none)" : e.param;
  }
  return "";
}

}  // namespace

TEST(Protocol, ChatRequestWithTurnsImageAndSampling) {
  const CompletionRequest r = parse_request(
      R"({"model":"x","messages":[{"role":"system","content":"Be brief."},
          {"role":"user","content":[{"type":"text","text":"What is it?"},
                                    {"type":"image_url","image_url":{"url":"data:image/png;base64,aGVsbG8="}}]},
          {"role":"assistant","content":"A cat."},{"role":"user","content":"Colour?"}],
          "max_tokens":7,"temperature":0,"top_p":0.5,"top_k":3,"seed":-4,"stop":["\n","END"],"stream":true,
          "stream_options":{"include_usage":true},"user":"ignored"})",
      true);
  EXPECT_EQ(r.system, "Be brief.");
  ASSERT_EQ(r.turns.size(), 2u);
  EXPECT_EQ(r.turns[0].user, "What is it?");
  EXPECT_TRUE(r.turns[0].image);
  EXPECT_EQ(*r.turns[0].answer, "A cat.");
  EXPECT_FALSE(r.turns[1].image);
  EXPECT_FALSE(r.turns[1].answer.has_value());
  ASSERT_EQ(r.images.size(), 1u);
  EXPECT_EQ(r.images[0].bytes, "hello");
  EXPECT_EQ(r.images[0].param, "messages[1].content[1].image_url");
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_EQ(r.temperature, 0.0f);
  EXPECT_EQ(r.top_k, 3);
  EXPECT_EQ(*r.seed, static_cast<uint64_t>(-4));
  EXPECT_EQ(r.stop.size(), 2u);
  EXPECT_TRUE(r.stream && r.include_usage);
  EXPECT_EQ(parse_request(R"({"prompt":["Once"],"max_completion_tokens":3})", false).prompt, "Once");
  EXPECT_EQ(parse_request(R"({"messages":[{"role":"user","content":"hi"}]})", true).temperature, 1.0f);  // OpenAI's default
}

TEST(Protocol, BadRequestsNameTheirField) {
  EXPECT_EQ(param_of("{"), "(none)");                                          // not JSON
  EXPECT_EQ(param_of("[1]"), "(none)");                                        // not an object
  EXPECT_EQ(param_of("{}"), "messages");
  EXPECT_EQ(param_of(R"({"messages":[]})"), "messages");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":5}]})"), "messages[0].content");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"robot","content":"x"}]})"), "messages[0].role");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]})"), "messages[1].role");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]})"), "messages");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"a"}],"temperature":"hot"})"), "temperature");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"a"}],"temperature":3})"), "temperature");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"a"}],"max_tokens":1.5})"), "max_tokens");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"a"}],"max_tokens":-1})"), "max_tokens");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"a"}],"n":2})"), "n");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"a"}],"tools":[]})"), "tools");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"a"}],"stop":["a","b","c","d","e"]})"), "stop");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"a"}],"stream":"yes"})"), "stream");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":"<image> what"}]})"), "messages[0].content");
  const std::string image = R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"%s"}}]}]})";
  auto with_url = [&](const std::string& url) {
    std::string b = image;
    return b.replace(b.find("%s"), 2, url);
  };
  EXPECT_EQ(param_of(with_url("data:image/png;base64,@@@@")), "messages[0].content[0].image_url");   // bad base64
  EXPECT_EQ(param_of(with_url("data:image/png,abcd")), "messages[0].content[0].image_url");          // not base64
  EXPECT_EQ(param_of(with_url("http://example.com/a.png")), "messages[0].content[0].image_url");     // remote off
  EXPECT_EQ(param_of(with_url("file:///etc/passwd")), "messages[0].content[0].image_url");
  EXPECT_EQ(param_of(R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,aGk="}},
                                {"type":"image_url","image_url":{"url":"data:image/png;base64,aGk="}}]}]})"),
            "messages[0].content[1]");  // two images in one turn
  EXPECT_EQ(param_of(R"({"prompt":""})", false), "prompt");
  EXPECT_EQ(param_of(R"({"prompt":["a","b"]})", false), "prompt");
  RequestLimits remote;
  remote.allow_remote_images = true;
  EXPECT_EQ(parse_request(with_url("https://example.com/a.png"), true, remote).images[0].url, "https://example.com/a.png");
}

TEST(Protocol, Base64) {
  EXPECT_EQ(*base64_decode(""), "");
  EXPECT_EQ(*base64_decode("TQ=="), "M");
  EXPECT_EQ(*base64_decode("TWE="), "Ma");
  EXPECT_EQ(*base64_decode("TWFu"), "Man");
  EXPECT_EQ(*base64_decode("TWE"), "Ma");  // padding optional
  EXPECT_EQ(*base64_decode("+/+/"), std::string("\xfb\xff\xbf", 3));
  for (const std::string& bytes : {std::string(""), std::string("M"), std::string("Ma"), std::string("\0\xff\x80\x01", 4)})
    EXPECT_EQ(*base64_decode(base64_encode(bytes)), bytes);
  EXPECT_EQ(base64_encode("Ma"), "TWE=");
  for (const char* bad : {"T", "TQ=", "T===", "TW=u", "TQ==TQ==", "TR==", "TW E", "-_-_"})
    EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
}

TEST(AnswerText, StopStringsAcrossPiecesAndStripping) {
  bool stopped = false;
  AnswerText a({"END", "\n\n"}, true);
  std::string sent;
  for (const char* piece : {"  ", " Hello", " wor", "ld E", "N", "D tail"}) {
    sent += a.add(piece, &stopped);
    if (stopped) break;
  }
  EXPECT_TRUE(stopped);
  EXPECT_EQ(sent, "Hello world");  // leading spaces dropped, "E", "N" held until "END" was complete
  AnswerText b({"END"}, false);
  sent = b.add(" a EN", &stopped);
  EXPECT_EQ(sent, " a ");  // "EN" may start "END"
  sent += b.add("Dless", &stopped);
  EXPECT_TRUE(stopped);
  EXPECT_EQ(sent, " a ");
  AnswerText c({"END"}, false);
  sent = c.add("x EN", &stopped);
  sent += c.add("d", &stopped);
  sent += c.finish();
  EXPECT_FALSE(stopped);
  EXPECT_EQ(sent, "x ENd");
  AnswerText d({}, true);
  sent = d.add(" a ", &stopped);
  sent += d.add(" b  ", &stopped);
  sent += d.finish();
  EXPECT_EQ(sent, "a  b");  // inner whitespace kept, the ends stripped
}

// fuzz_request's check (tests/fuzz/request_check.h) on its seeds and on deterministic mutations of
// them: every byte replaced by a few others, every truncation.
TEST(Protocol, FuzzSeedsAndTheirMutationsAreParsedOrRefused) {
  const std::string dir = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fuzz/corpus/request/";
  int accepted = 0, refused = 0;
  for (const char* seed : {"chat_full.bin", "chat_min.bin", "chat_fields.bin", "completion.bin", "completion_list.bin"}) {
    std::ifstream f(dir + seed, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ASSERT_GT(bytes.size(), 1u) << seed;
    const bool chat = bytes[0] & 1;
    const std::string body = bytes.substr(1);
    parse_request(body, chat);  // every seed is a valid request
    auto run = [&](const std::string& b) {
      bool ok = true;
      try {
        parse_request(b, chat);
        ++accepted;
      } catch (const ApiError&) {
        ++refused;
      }
      ok = tl::fuzz::check_request(b, chat);
      EXPECT_TRUE(ok) << seed << ": " << b;
    };
    for (size_t i = 0; i < body.size(); ++i) {
      for (char c : {'"', '{', ']', '0', '\\', '\xff'}) {
        std::string m = body;
        m[i] = c;
        run(m);
      }
      run(body.substr(0, i));
    }
  }
  std::printf("[ fuzz     ] mutations accepted: %d, refused: %d\n", accepted, refused);
  EXPECT_GT(refused, 100);
  EXPECT_GT(accepted, 10);
}
