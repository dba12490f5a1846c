// tests/server/test_server.cpp — `tinyllava serve` end to end, in process, over loopback with the
// cpp-httplib client (tiny fixture model): the answers' schema, streaming equal to the whole answer,
// errors as OpenAI error objects, the API key, the body / queue / context limits, a client that leaves
// (its slot is freed), 8 concurrent greedy requests each answered exactly as alone, and shutdown
// finishing the request in flight.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "model/server/server.h"
#include "weights/json.h"

using namespace tl;
using namespace tl::server;

namespace {

const std::string kSource = TINYLLAVA_SOURCE_DIR;
const std::string kTiny = kSource + "/tests/fixtures/models/tiny";

class Running {
 public:
  explicit Running(ServerOptions o = {}) {
    o.port = 0;
    server_ = std::make_unique<Server>(o, [] { return std::make_unique<Engine>(kTiny); });
    thread_ = std::thread([this] { server_->run(); });
    for (int i = 0; i < 300 && !server_->ready(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_TRUE(server_->ready());
  }
  ~Running() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    server_->shutdown();
    thread_.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(60, 0);
    return c;
  }
  int port() const { return server_->port(); }
  Server& server() { return *server_; }

 private:
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

std::string chat_body(const std::string& question, int max_tokens, bool stream = false, const std::string& extra = "") {
  return "{\"messages\":[{\"role\":\"user\",\"content\":" + json::dump(json::Value::string(question)) +
         "}],\"max_tokens\":" + std::to_string(max_tokens) + ",\"temperature\":0" + (stream ? ",\"stream\":true" : "") +
         extra + "}";
}

json::Value post_json(const httplib::Client& c, const std::string& path, const std::string& body, int want_status) {
  auto r = const_cast<httplib::Client&>(c).Post(path.c_str(), body, "application/json");
  EXPECT_TRUE(r) << "no answer";
  if (!r) return {};
  EXPECT_EQ(r->status, want_status) << r->body;
  return json::parse(r->body, "answer");
}

std::string answer_text(const json::Value& v) { return v.find("choices")->items()[0].find("message")->find("content")->as_string(); }

// The events of a streamed answer, "[DONE]" last.
std::vector<std::string> events(const std::string& body) {
  std::vector<std::string> out;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("data: ", 0) == 0) out.push_back(line.substr(6));
  return out;
}

std::string error_type(const json::Value& v) { return v.find("error")->find("type")->as_string(); }

std::string image_chat_body(const std::string& uri, int max_tokens) {
  return R"({"messages":[{"role":"user","content":[{"type":"text","text":"What is it?"},{"type":"image_url","image_url":{"url":")" +
         uri + "\"}}]}],\"max_tokens\":" + std::to_string(max_tokens) + ",\"temperature\":0}";
}

}  // namespace

TEST(Server, ChatCompletionModelsHealthAndMetricsSchema) {
  Running s;
  auto c = s.client();
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  const json::Value models = json::parse(c.Get("/v1/models")->body, "models");
  EXPECT_EQ(models.find("data")->items()[0].find("id")->as_string(), "tinyllava");
  const json::Value v = post_json(c, "/v1/chat/completions", chat_body("Hello", 6), 200);
  EXPECT_EQ(v.find("object")->as_string(), "chat.completion");
  const json::Value& choice = v.find("choices")->items()[0];
  EXPECT_EQ(choice.find("message")->find("role")->as_string(), "assistant");
  const std::string finish = choice.find("finish_reason")->as_string();
  EXPECT_TRUE(finish == "stop" || finish == "length");
  const json::Value& usage = *v.find("usage");
  EXPECT_GT(usage.find("prompt_tokens")->as_int(), 10);
  EXPECT_LE(usage.find("completion_tokens")->as_int(), 6);
  EXPECT_EQ(usage.find("total_tokens")->as_int(), usage.find("prompt_tokens")->as_int() + usage.find("completion_tokens")->as_int());
  const json::Value t = post_json(c, "/v1/completions", R"({"prompt":"Once upon a time","max_tokens":4,"temperature":0})", 200);
  EXPECT_EQ(t.find("object")->as_string(), "text_completion");
  EXPECT_EQ(t.find("usage")->find("completion_tokens")->as_int(), 4);  // the tiny model rarely says EOS first
  const std::string metrics = c.Get("/metrics")->body;
  for (const char* name : {"tinyllava_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 1",
                           "tinyllava_completion_tokens_total", "tinyllava_queue_depth 0", "tinyllava_active_slots 0",
                           "tinyllava_time_to_first_token_seconds_bucket", "tinyllava_decode_batch_size_count"})
    EXPECT_NE(metrics.find(name), std::string::npos) << name;
}

TEST(Server, StreamedDeltasAddUpToTheWholeAnswer) {
  Running s;
  auto c = s.client();
  const json::Value whole = post_json(c, "/v1/chat/completions", chat_body("Tell me a story", 12), 200);
  auto r = c.Post("/v1/chat/completions", chat_body("Tell me a story", 12, true, R"(,"stream_options":{"include_usage":true})"),
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  const std::vector<std::string> ev = events(r->body);
  ASSERT_GE(ev.size(), 4u);
  EXPECT_EQ(ev.back(), "[DONE]");
  std::string text, finish;
  for (size_t i = 0; i + 2 < ev.size(); ++i) {
    const json::Value chunk = json::parse(ev[i], "chunk");
    EXPECT_EQ(chunk.find("object")->as_string(), "chat.completion.chunk");
    const json::Value& choice = chunk.find("choices")->items()[0];
    if (const json::Value* content = choice.find("delta")->find("content")) text += content->as_string();
    if (!choice.find("finish_reason")->is_null()) finish = choice.find("finish_reason")->as_string();
  }
  EXPECT_EQ(text, answer_text(whole));
  EXPECT_EQ(finish, whole.find("choices")->items()[0].find("finish_reason")->as_string());
  const json::Value usage = json::parse(ev[ev.size() - 2], "usage chunk");
  EXPECT_TRUE(usage.find("choices")->items().empty());
  EXPECT_EQ(json::dump(*usage.find("usage")), json::dump(*whole.find("usage")));
}

TEST(Server, ImagesFromDataUrisAndBadInputsAre400) {
  Running s;
  auto c = s.client();
  std::ifstream f(kSource + "/tests/fixtures/images/demo.png", std::ios::binary);
  const std::string png((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const json::Value v = post_json(c, "/v1/chat/completions", image_chat_body("data:image/png;base64," + base64_encode(png), 4), 200);
  EXPECT_GT(v.find("usage")->find("prompt_tokens")->as_int(), 700 / 10);  // the image's rows count as prompt positions
  // The same image again comes from the engine's cache.
  post_json(c, "/v1/chat/completions", image_chat_body("data:image/png;base64," + base64_encode(png), 2), 200);
  const std::string metrics = c.Get("/metrics")->body;
  EXPECT_NE(metrics.find("tinyllava_images_total{source=\"encoded\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("tinyllava_images_total{source=\"cache\"} 1"), std::string::npos);
  struct Bad {
    std::string path, body;
    int status;
  };
  const std::vector<Bad> bad = {
      {"/v1/chat/completions", "{\"messages\": [", 400},
      {"/v1/chat/completions", R"({"messages":"hi"})", 400},
      {"/v1/chat/completions", image_chat_body("data:image/png;base64,!!!!", 2), 400},
      {"/v1/chat/completions", image_chat_body("data:image/png;base64," + base64_encode("not an image at all"), 2), 400},
      {"/v1/chat/completions", image_chat_body("data:image/png;base64," + base64_encode(png.substr(0, 200)), 2), 400},
      {"/v1/chat/completions", chat_body("hi", 100000), 400},  // past the context
      {"/v1/completions", R"({"prompt":"look: <image>"})", 400},
      {"/v1/nothing", "{}", 404},
  };
  for (const Bad& b : bad) {
    const json::Value e = post_json(c, b.path, b.body, b.status);
    ASSERT_TRUE(e.is_object() && e.find("error")) << b.body.substr(0, 80);
    EXPECT_FALSE(e.find("error")->find("message")->as_string().empty());
  }
  EXPECT_EQ(error_type(post_json(c, "/v1/chat/completions", R"({"messages":1})", 400)), "invalid_request_error");
  // The server still answers.
  post_json(c, "/v1/chat/completions", chat_body("Still there?", 2), 200);
}

TEST(Server, ApiKeyIsRequiredExceptForHealth) {
  ServerOptions o;
  o.api_key = "sesame";
  Running s(o);
  auto c = s.client();
  EXPECT_EQ(c.Get("/health")->status, 200);
  EXPECT_EQ(error_type(post_json(c, "/v1/chat/completions", chat_body("hi", 2), 401)), "authentication_error");
  EXPECT_EQ(c.Get("/v1/models")->status, 401);
  EXPECT_EQ(c.Get("/metrics")->status, 401);
  c.set_bearer_token_auth("sesam");
  EXPECT_EQ(c.Get("/v1/models")->status, 401);
  c.set_bearer_token_auth("sesame");
  EXPECT_EQ(c.Get("/v1/models")->status, 200);
  post_json(c, "/v1/chat/completions", chat_body("hi", 2), 200);
}

TEST(Server, BodyAndQueueLimits) {
  ServerOptions o;
  o.max_body_bytes = 4096;
  o.scheduler.slots = 1;
  o.scheduler.max_queued = 0;
  Running s(o);
  auto c = s.client();
  post_json(c, "/v1/chat/completions", chat_body(std::string(5000, 'a'), 2), 413);
  // One long request holds the only slot; with no queue, the next is refused 429 at once.
  auto long_one = std::async(std::launch::async, [&] {
    auto c2 = s.client();
    return c2.Post("/v1/completions", R"({"prompt":"Go on","max_tokens":2000,"temperature":0})", "application/json");
  });
  for (int i = 0; i < 500; ++i) {
    if (c.Get("/metrics")->body.find("tinyllava_active_slots 1") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(error_type(post_json(c, "/v1/chat/completions", chat_body("me too", 2), 429)), "rate_limit_error");
  auto r = long_one.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(Server, AClientThatLeavesFreesItsSlot) {
  ServerOptions o;
  o.scheduler.slots = 1;
  Running s(o);
  auto c = s.client();
  for (bool stream : {true, false}) {
    // A raw connection: send a long request, read a little (or nothing), close.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(s.port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    const std::string body = R"({"prompt":"Go on","temperature":0)" + std::string(stream ? ",\"stream\":true}" : "}");
    const std::string req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
    ASSERT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    for (int i = 0; i < 500; ++i) {
      if (c.Get("/metrics")->body.find("tinyllava_active_slots 1") != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (stream) {
      char buf[256];
      EXPECT_GT(::read(fd, buf, sizeof buf), 0);
    }
    ::close(fd);
    bool freed = false;
    for (int i = 0; i < 300 && !freed; ++i) {
      freed = c.Get("/metrics")->body.find("tinyllava_active_slots 0") != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(freed) << (stream ? "streamed" : "whole");
  }
  post_json(c, "/v1/chat/completions", chat_body("next", 2), 200);  // the slot serves the next request
}

TEST(Server, EightConcurrentGreedyRequestsEachGetWhatTheyGetAlone) {
  ServerOptions o;
  o.scheduler.slots = 8;
  Running s(o);
  std::vector<std::string> alone;
  auto c = s.client();
  auto question = [](int i) { return "Question " + std::to_string(i) + std::string(static_cast<size_t>(i), '!'); };
  for (int i = 0; i < 8; ++i) alone.push_back(answer_text(post_json(c, "/v1/chat/completions", chat_body(question(i), 16), 200)));
  std::vector<std::future<std::string>> together;
  for (int i = 0; i < 8; ++i)
    together.push_back(std::async(std::launch::async, [&, i] {
      auto ci = s.client();
      return answer_text(post_json(ci, "/v1/chat/completions", chat_body(question(i), 16), 200));
    }));
  for (int i = 0; i < 8; ++i) EXPECT_EQ(together[static_cast<size_t>(i)].get(), alone[static_cast<size_t>(i)]) << i;
  const std::string metrics = c.Get("/metrics")->body;
  // Some decode steps ran more than one sequence (the batch histogram's bucket le="1" is below its count).
  auto value = [&](const std::string& key) {
    const size_t at = metrics.find(key + " ");
    EXPECT_NE(at, std::string::npos) << key;
    return at == std::string::npos ? -1 : std::stoll(metrics.substr(at + key.size() + 1));
  };
  EXPECT_LT(value("tinyllava_decode_batch_size_bucket{le=\"1\"}"), value("tinyllava_decode_batch_size_count"));
}

TEST(Server, ShutdownFinishesTheRequestInFlight) {
  Running s;
  auto pending = std::async(std::launch::async, [&] {
    auto c = s.client();
    return c.Post("/v1/completions", R"({"prompt":"Go on","max_tokens":300,"temperature":0})", "application/json");
  });
  auto c = s.client();
  for (int i = 0; i < 500; ++i) {
    if (c.Get("/metrics")->body.find("tinyllava_active_slots 1") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  s.stop();  // returns once the request in flight has been answered
  auto r = pending.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body, "answer").find("usage")->find("completion_tokens")->as_int(), 300);
}

TEST(Server, ARequestPastItsTimeEndsWithLength) {
  ServerOptions o;
  o.scheduler.timeout_s = 0.05;
  Running s(o);
  auto c = s.client();
  const json::Value v = post_json(c, "/v1/completions", R"({"prompt":"Go on","temperature":0})", 200);  // no limit:
  EXPECT_EQ(v.find("choices")->items()[0].find("finish_reason")->as_string(), "length");          // the time's
  EXPECT_LT(v.find("usage")->find("completion_tokens")->as_int(), 2000);
}
