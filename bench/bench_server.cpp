// bench/bench_server.cpp — a load generator for `tinyllava serve` (model/server/server.h): how latency
// and throughput change as more clients stream answers at once (continuous batching, scheduler.h).
//
//   build/tinyllava serve -m DIR --port 18181 --parallel 8 &
//   build/bench/bench_server --url http://127.0.0.1:18181 --clients 1,2,4,8 --max-tokens 64
//
// For each client count C in --clients, C threads start together; each sends --requests-per-client
// requests one after another on its own keep-alive connection (TCP_NODELAY, so the client adds no Nagle
// delay of its own): POST /v1/chat/completions with stream = true, temperature = 0, max_tokens = N and
// stream_options.include_usage = true. A content receiver splits the server-sent events as their
// bytes arrive and timestamps them (steady clock):
//   TTFT            first chunk with non-empty delta.content, minus the moment the request was sent;
//   per-token       (end - first content chunk) / (completion_tokens - 1), where end is the chunk that
//                   carries finish_reason (sent as soon as the last token is sampled; the last content
//                   chunk can come earlier when the answer's trailing whitespace is dropped) and
//                   completion_tokens is usage.completion_tokens of the usage chunk before [DONE].
//                   A chunk carries one or more tokens, so tokens are counted from usage, not chunks;
//                   requests with fewer than 2 tokens have no per-token latency;
//   gap             the time between successive content chunks (stalls show up here: a decode step
//                   waits while the scheduler prefills a newly admitted request);
//   tok/s           all requests' completion tokens / the round's wall time (first send to last answer),
//                   prefills included: the aggregate rate the server sustains at that concurrency.
// Percentiles are nearest-rank over the round's requests (p99 of 16 requests is their maximum).
// Each prompt starts with a distinct tag ("[3.1] ...") so no slot reuses a previous request's whole
// prompt from its cache (scheduler.h); only the shared system prompt is. --same-prompt turns that off.
// A request is an error when it cannot connect, is answered other than 200, streams an error event,
// or ends without a usage chunk and [DONE]; the first error of a round is printed on stderr, and the
// exit status is 1 when any request failed.
//
// The server must be on this machine: URLs whose host is not 127.0.0.1 or localhost are refused.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "model/server/protocol.h"
#include "weights/json.h"

namespace {

using Clock = std::chrono::steady_clock;
using tl::json::Value;

struct Options {
  std::string host;  // what to connect to (localhost is connected as 127.0.0.1)
  int port = 80;
  std::vector<int> clients = {1, 2, 4, 8};
  int requests_per_client = 2;
  int max_tokens = 64;
  std::string prompt = "Write a long story about a lighthouse keeper and the sea.";
  std::string image_path;
  bool json = false;
  bool same_prompt = false;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "bench_server: error: %s\n", message.c_str());
  std::exit(2);
}

void usage() {
  std::printf(
      "usage: bench_server --url http://127.0.0.1:PORT [--clients 1,2,4,8] [--requests-per-client 2]\n"
      "                    [--max-tokens 64] [--prompt TEXT] [--image FILE] [--same-prompt] [--json]\n"
      "Streams chat completions from C concurrent clients for each C in --clients and prints per round:\n"
      "completion tokens, wall time, aggregate tok/s, p50/p99 time to first token, p50/p99 per-token\n"
      "latency, p99 gap between chunks and errors (--json: one JSON object per line).\n");
}

// http://HOST[:PORT][/] with HOST 127.0.0.1 or localhost; anything else is refused.
void parse_url(const std::string& url, Options& o) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) die("--url: expected http://HOST:PORT, got '" + url + "'");
  std::string rest = url.substr(scheme.size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) die("--url: expected no path, got '" + url + "'");
  const size_t colon = rest.rfind(':');
  std::string host = rest.substr(0, colon);
  if (colon != std::string::npos) {
    char* end = nullptr;
    const long port = std::strtol(rest.c_str() + colon + 1, &end, 10);
    if (*end != '\0' || colon + 1 == rest.size() || port < 1 || port > 65535) die("--url: bad port in '" + url + "'");
    o.port = static_cast<int>(port);
  }
  if (host != "127.0.0.1" && host != "localhost")
    die("--url: the host must be 127.0.0.1 or localhost (loopback only), got '" + host + "'");
  o.host = "127.0.0.1";
}

int parse_int(const std::string& flag, const std::string& text, int lo, int hi) {
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < lo || v > hi)
    die(flag + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + text + "'");
  return static_cast<int>(v);
}

std::vector<int> parse_list(const std::string& flag, const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(parse_int(flag, item, 1, 1024));
  if (out.empty()) die(flag + ": expected a list like 1,2,4,8");
  return out;
}

Options parse_args(int argc, char** argv) {
  Options o;
  bool have_url = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(a + ": expected a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") usage(), std::exit(0);
    else if (a == "--url") parse_url(value(), o), have_url = true;
    else if (a == "--clients") o.clients = parse_list(a, value());
    else if (a == "--requests-per-client") o.requests_per_client = parse_int(a, value(), 1, 1000000);
    else if (a == "--max-tokens") o.max_tokens = parse_int(a, value(), 1, 1000000);
    else if (a == "--prompt") o.prompt = value();
    else if (a == "--image") o.image_path = value();
    else if (a == "--json") o.json = true;
    else if (a == "--same-prompt") o.same_prompt = true;
    else die("unknown option '" + a + "' (see --help)");
  }
  if (!have_url) usage(), die("--url is required");
  return o;
}

// ---- the request --------------------------------------------------------------------------------------

// The file as a data: URI; the media type from its extension (the server decodes by content anyway).
std::string image_data_uri(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die("--image: cannot read '" + path + "'");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string ext = path.substr(path.rfind('.') == std::string::npos ? path.size() : path.rfind('.') + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  const std::string type = ext == "jpg" || ext == "jpeg" ? "jpeg" : ext.empty() ? "png" : ext;
  return "data:image/" + type + ";base64," + tl::server::base64_encode(bytes);
}

std::string request_body(const Options& o, const std::string& text, const std::string& image_uri) {
  Value content = Value::string(text);
  if (!image_uri.empty()) {
    Value url = Value::object({{"url", Value::string(image_uri)}});
    Value image = Value::object({{"type", Value::string("image_url")}, {"image_url", std::move(url)}});
    Value words = Value::object({{"type", Value::string("text")}, {"text", Value::string(text)}});
    content = Value::array({std::move(image), std::move(words)});
  }
  Value message = Value::object({{"role", Value::string("user")}, {"content", std::move(content)}});
  Value body = Value::object();
  body.set("messages", Value::array({std::move(message)}));
  body.set("stream", Value::boolean(true));
  body.set("stream_options", Value::object({{"include_usage", Value::boolean(true)}}));
  body.set("temperature", Value::number(0));
  body.set("max_tokens", Value::integer(o.max_tokens));
  return tl::json::dump(body);
}

// ---- one streamed answer ------------------------------------------------------------------------------

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct RequestResult {
  std::string error;           // empty: the request succeeded
  double ttft_ms = -1;
  double token_ms = -1;        // < 0: fewer than 2 completion tokens
  int64_t completion_tokens = 0;
  std::vector<double> gaps_ms;  // between successive content chunks
};

// The events of one answer as they arrive: the times that matter and the usage.
struct Stream {
  Clock::time_point sent, first_content, last_content, finished;
  bool have_content = false, have_finish = false, done = false;
  int64_t completion_tokens = -1;
  std::string error;
  std::vector<double> gaps_ms;
  std::string pending;  // bytes of an event not yet complete

  void on_bytes(const char* data, size_t n, Clock::time_point t);
  void on_event(const std::string& data, Clock::time_point t);
  void on_chunk(const Value& v, Clock::time_point t);
  RequestResult result() const;
};

// Events end with a blank line; each "data: " line carries the payload (the server sends one per event).
void Stream::on_bytes(const char* data, size_t n, Clock::time_point t) {
  for (size_t i = 0; i < n; ++i)
    if (data[i] != '\r') pending += data[i];
  size_t end;
  while ((end = pending.find("\n\n")) != std::string::npos) {
    std::string event = pending.substr(0, end);
    pending.erase(0, end + 2);
    std::stringstream lines(event);
    for (std::string line; std::getline(lines, line);) {
      if (line.compare(0, 5, "data:") != 0) continue;  // comments, event names, ids
      const size_t start = line.size() > 5 && line[5] == ' ' ? 6 : 5;
      on_event(line.substr(start), t);
    }
  }
}

void Stream::on_event(const std::string& data, Clock::time_point t) {
  if (data == "[DONE]") {
    done = true;
    return;
  }
  Value v;
  try {
    v = tl::json::parse(data, "event");
  } catch (const std::exception& e) {
    if (error.empty()) error = e.what();
    return;
  }
  if (!v.is_object()) {
    if (error.empty()) error = "an event that is not a JSON object";
  } else if (const Value* e = v.find("error")) {
    const Value* m = e->is_object() ? e->find("message") : nullptr;
    if (error.empty()) error = "error event: " + (m && m->is_string() ? m->as_string() : tl::json::dump(*e));
  } else {
    on_chunk(v, t);
  }
}

void Stream::on_chunk(const Value& v, Clock::time_point t) {
  const Value* usage = v.find("usage");
  if (usage && usage->is_object()) {
    const Value* tokens = usage->find("completion_tokens");
    if (tokens && tokens->is_integer()) completion_tokens = tokens->as_int();
  }
  const Value* choices = v.find("choices");
  if (!choices || !choices->is_array() || choices->items().empty()) return;
  const Value& choice = choices->items()[0];
  if (!choice.is_object()) return;
  const Value* delta = choice.find("delta");
  const Value* content = delta && delta->is_object() ? delta->find("content") : nullptr;
  if (content && content->is_string() && !content->as_string().empty()) {
    if (!have_content) first_content = t;
    else gaps_ms.push_back(ms_between(last_content, t));
    have_content = true;
    last_content = t;
  }
  const Value* finish = choice.find("finish_reason");
  if (finish && finish->is_string()) have_finish = true, finished = t;
}

RequestResult Stream::result() const {
  RequestResult r;
  r.error = error;
  if (r.error.empty() && !done) r.error = "the stream ended without data: [DONE]";
  if (r.error.empty() && completion_tokens < 0) r.error = "no usage chunk before [DONE]";
  if (!r.error.empty()) return r;
  r.completion_tokens = completion_tokens;
  if (have_content) r.ttft_ms = ms_between(sent, first_content);
  const Clock::time_point end = have_finish ? finished : last_content;
  if (have_content && completion_tokens >= 2) r.token_ms = ms_between(first_content, end) / (completion_tokens - 1);
  r.gaps_ms = gaps_ms;
  return r;
}

RequestResult failed(std::string error) {
  RequestResult r;
  r.error = std::move(error);
  return r;
}

RequestResult send_request(httplib::Client& client, const std::string& body) {
  Stream stream;
  std::string error_body;
  int status = 0;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.set_header("Accept", "text/event-stream");
  req.response_handler = [&](const httplib::Response& res) { return status = res.status, true; };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (status != 200) return error_body.append(data, n), true;  // an error answer's JSON
    stream.on_bytes(data, n, Clock::now());
    return true;
  };
  stream.sent = Clock::now();
  const httplib::Result res = client.send(req);
  if (!res) return failed("request failed: " + httplib::to_string(res.error()));
  if (status != 200) return failed("HTTP " + std::to_string(status) + ": " + error_body.substr(0, 300));
  return stream.result();
}

// ---- one round: C clients at once ---------------------------------------------------------------------

struct Round {
  int clients = 0;
  int requests = 0, errors = 0;
  int64_t tokens = 0;
  double wall_s = 0;
  std::vector<double> ttft_ms, token_ms, gaps_ms;
  std::string first_error;
};

void client_thread(const Options& o, int client, const std::string& image_uri, Round& round, std::mutex& mu) {
  httplib::Client http(o.host, o.port);
  http.set_keep_alive(true);
  http.set_tcp_nodelay(true);  // else Nagle holds the body behind the headers for a delayed ACK (~40 ms)
  http.set_connection_timeout(10);
  http.set_read_timeout(3600);  // a queued request may wait long for its first byte
  for (int i = 0; i < o.requests_per_client; ++i) {
    const std::string tag = "[" + std::to_string(client) + "." + std::to_string(i) + "] ";
    const std::string body = request_body(o, (o.same_prompt ? "" : tag) + o.prompt, image_uri);
    const RequestResult r = send_request(http, body);
    std::lock_guard<std::mutex> lock(mu);
    round.requests++;
    if (!r.error.empty()) {
      if (round.errors++ == 0) round.first_error = r.error;
      continue;
    }
    round.tokens += r.completion_tokens;
    if (r.ttft_ms >= 0) round.ttft_ms.push_back(r.ttft_ms);
    if (r.token_ms >= 0) round.token_ms.push_back(r.token_ms);
    round.gaps_ms.insert(round.gaps_ms.end(), r.gaps_ms.begin(), r.gaps_ms.end());
  }
}

Round run_round(const Options& o, int clients, const std::string& image_uri) {
  Round round;
  round.clients = clients;
  std::mutex mu;
  std::vector<std::thread> threads;
  const Clock::time_point start = Clock::now();
  for (int c = 0; c < clients; ++c)
    threads.emplace_back(client_thread, std::cref(o), c, std::cref(image_uri), std::ref(round), std::ref(mu));
  for (std::thread& t : threads) t.join();
  round.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  return round;
}

// ---- reporting ----------------------------------------------------------------------------------------

// Nearest rank: the smallest value with at least p% of the values at or below it; NaN when empty.
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::max<size_t>(rank, 1) - 1];
}

void print_header() {
  std::printf("%7s %8s %7s %8s %8s %9s %9s %9s %9s %9s %6s\n", "clients", "requests", "tokens", "wall_s", "tok/s",
              "ttft_p50", "ttft_p99", "tok_p50", "tok_p99", "gap_p99", "errors");
  std::printf("%7s %8s %7s %8s %8s %9s %9s %9s %9s %9s %6s\n", "", "", "", "", "", "ms", "ms", "ms", "ms", "ms", "");
}

void print_row(const Round& r) {
  std::printf("%7d %8d %7lld %8.2f %8.1f %9.1f %9.1f %9.2f %9.2f %9.2f %6d\n", r.clients, r.requests,
              static_cast<long long>(r.tokens), r.wall_s, static_cast<double>(r.tokens) / r.wall_s,
              percentile(r.ttft_ms, 50), percentile(r.ttft_ms, 99), percentile(r.token_ms, 50),
              percentile(r.token_ms, 99), percentile(r.gaps_ms, 99), r.errors);
}

Value number_or_null(double v) { return std::isnan(v) ? Value() : Value::number(std::round(v * 1000) / 1000); }

void print_json(const Round& r) {
  Value v = Value::object();
  v.set("clients", Value::integer(r.clients));
  v.set("requests", Value::integer(r.requests));
  v.set("completion_tokens", Value::integer(r.tokens));
  v.set("wall_s", number_or_null(r.wall_s));
  v.set("tok_per_s", number_or_null(static_cast<double>(r.tokens) / r.wall_s));
  v.set("ttft_ms_p50", number_or_null(percentile(r.ttft_ms, 50)));
  v.set("ttft_ms_p99", number_or_null(percentile(r.ttft_ms, 99)));
  v.set("token_ms_p50", number_or_null(percentile(r.token_ms, 50)));
  v.set("token_ms_p99", number_or_null(percentile(r.token_ms, 99)));
  v.set("gap_ms_p99", number_or_null(percentile(r.gaps_ms, 99)));
  v.set("errors", Value::integer(r.errors));
  std::printf("%s\n", tl::json::dump(v).c_str());
}

// The server must answer GET /health with 200 (it answers 503 while the model loads).
void check_health(const Options& o) {
  httplib::Client http(o.host, o.port);
  http.set_connection_timeout(5);
  const httplib::Result res = http.Get("/health");
  if (!res) die("GET /health: " + httplib::to_string(res.error()));
  if (res->status != 200) die("GET /health: HTTP " + std::to_string(res->status) + " (still loading?) " + res->body);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  check_health(o);
  const std::string image_uri = o.image_path.empty() ? "" : image_data_uri(o.image_path);
  if (!o.json) print_header();
  int errors = 0;
  for (int clients : o.clients) {
    const Round round = run_round(o, clients, image_uri);
    o.json ? print_json(round) : print_row(round);
    std::fflush(stdout);
    if (round.errors) std::fprintf(stderr, "bench_server: %d clients: %d errors, the first: %s\n", clients,
                                   round.errors, round.first_error.c_str());
    errors += round.errors;
  }
  return errors ? 1 : 0;
}
