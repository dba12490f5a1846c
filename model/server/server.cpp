// model/server/server.cpp — routes, authentication, limits, streaming and shutdown (contract in
// server.h).
#include "model/server/server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

#include <httplib.h>

#include "model/image.h"
#include "tensor/error.h"

namespace tl::server {

namespace {

constexpr auto kPoll = std::chrono::milliseconds(100);  // how often a waiting request looks at its client

// cpp-httplib 0.11 does not hand its sockets to the server's code; the two things below need them, so
// they are found among this process's descriptors by what they are bound to.

// "address:port" of a socket's own end (peer = false) or the other end; empty when it is not a socket.
std::string socket_end(int fd, bool peer) {
  sockaddr_storage a = {};
  socklen_t len = sizeof a;
  if ((peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
            : ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len)) != 0)
    return "";
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  if (::getnameinfo(reinterpret_cast<sockaddr*>(&a), len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return "";
  return std::string(host) + ":" + serv;
}

// The first descriptor (above stderr) for which `match` is true, or -1.
template <typename Match>
int find_descriptor(const Match& match) {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return -1;
  int found = -1;
  while (dirent* e = ::readdir(d)) {
    const int fd = std::atoi(e->d_name);
    if (fd > 2 && match(fd)) {
      found = fd;
      break;
    }
  }
  ::closedir(d);
  return found;
}

// The connection a request came on, so a waiting handler can tell when the client has gone.
class ConnectionWatch {
 public:
  explicit ConnectionWatch(const httplib::Request& req)
      : peer_(req.remote_addr + ":" + std::to_string(req.remote_port)), port_(":" + std::to_string(req.local_port)) {
    fd_ = find_descriptor([&](int fd) { return ours(fd); });
  }
  // The client closed or reset the connection (a pipelined next request is not a close).
  bool closed() const {
    if (fd_ < 0) return false;
    if (!ours(fd_)) return true;  // the descriptor now belongs to another connection
    pollfd p = {fd_, POLLIN | POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  }

 private:
  bool ours(int fd) const {
    const std::string self = socket_end(fd, false);
    return socket_end(fd, true) == peer_ && self.size() > port_.size() &&
           self.compare(self.size() - port_.size(), port_.size(), port_) == 0;
  }
  std::string peer_, port_;
  int fd_ = -1;
};

// cpp-httplib 0.11 listens with a backlog of 5: a burst of clients connecting at once has some SYNs
// dropped and retried a second later. Linux lets listen() be called again on the listening socket to
// raise it.
void widen_backlog(int port) {
  const std::string suffix = ":" + std::to_string(port);
  const int fd = find_descriptor([&](int fd) {
    int listening = 0;
    socklen_t len = sizeof listening;
    const std::string self = socket_end(fd, false);
    return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening &&
           self.size() > suffix.size() && self.compare(self.size() - suffix.size(), suffix.size(), suffix) == 0;
  });
  if (fd >= 0) ::listen(fd, 256);
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(error_body(e), "application/json");
}

// A request on its way: what the answer needs to name it, the job, and the connection to watch.
struct Answer {
  CompletionRequest request;
  std::string id;
  int64_t created;
  std::shared_ptr<Job> job;
  std::shared_ptr<ConnectionWatch> watch;
};

// stream = false: waits for the whole answer (or the client leaving) and sets the response; returns
// its status.
int whole_answer(const Answer& a, httplib::Response& res) {
  std::string text;
  Job::Output out;
  do {
    if (a.watch->closed()) return a.job->cancel(), 499;  // nobody reads the response
    a.job->take(out, kPoll);
    text += out.text;
  } while (!out.done);
  if (out.error) {
    send_error(res, *out.error);
    return out.error->status;
  }
  res.set_content(completion_body(a.request, a.id, a.created, text, out.finish_reason, out.usage), "application/json");
  return 200;
}

// stream = true: server-sent events as the text arrives, the last chunk, usage if asked, "[DONE]".
void stream_answer(Answer a, httplib::Response& res) {
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [a](size_t, httplib::DataSink& sink) {
    auto event = [&](const std::string& data) {
      const std::string e = "data: " + data + "\n\n";
      return sink.write(e.data(), e.size());
    };
    const CompletionRequest& r = a.request;
    if (!event(stream_chunk(r, a.id, a.created, "", "", true))) return a.job->cancel(), false;
    Job::Output out;
    do {
      if (a.watch->closed()) return a.job->cancel(), false;
      a.job->take(out, kPoll);
      if (!out.text.empty() && !event(stream_chunk(r, a.id, a.created, out.text, "", false))) return a.job->cancel(), false;
    } while (!out.done);
    if (out.error) {
      event(error_body(*out.error));
    } else {
      event(stream_chunk(r, a.id, a.created, "", out.finish_reason, false));
      if (r.include_usage) event(usage_chunk(r, a.id, a.created, out.usage));
    }
    event("[DONE]");
    sink.done();
    return true;
  });
}

bool same_key(const std::string& a, const std::string& b) {  // compares every byte: no timing leak
  unsigned char diff = a.size() != b.size();
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i)
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

// An http(s) image, with a size and a time limit.
std::string fetch_image(const ImageInput& in, size_t max_bytes, double timeout_s) {
  const size_t scheme_end = in.url.find("://");
  const size_t path_start = in.url.find('/', scheme_end + 3);
  const std::string origin = in.url.substr(0, path_start);
  const std::string path = path_start == std::string::npos ? "/" : in.url.substr(path_start);
  httplib::Client cli(origin);
  if (!cli.is_valid()) bad_request(in.param, "%s: cannot fetch %s (https needs OpenSSL)", in.param.c_str(), in.url.c_str());
  const auto limit = std::chrono::duration<double>(timeout_s);
  cli.set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(limit));
  cli.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(limit));
  cli.set_follow_location(true);
  std::string body;
  bool too_big = false;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  auto r = cli.Get(path, [&](const char* data, size_t n) {
    if (body.size() + n > max_bytes) return !(too_big = true);
    body.append(data, n);
    return std::chrono::steady_clock::now() < deadline;
  });
  if (too_big) bad_request(in.param, "%s: the image is larger than %zu bytes", in.param.c_str(), max_bytes);
  if (!r) bad_request(in.param, "%s: download failed: %s", in.param.c_str(), httplib::to_string(r.error()).c_str());
  if (r->status != 200) bad_request(in.param, "%s: download failed: HTTP %d", in.param.c_str(), r->status);
  return body;
}

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Server::Server(const ServerOptions& options, std::function<std::unique_ptr<Engine>()> load)
    : options_(options), http_(std::make_unique<httplib::Server>()), created_(now_seconds()) {
  // One HTTP thread per request that can be in flight, plus a few for /health, /metrics and refusals.
  const size_t threads = static_cast<size_t>(options.scheduler.slots) + options.scheduler.max_queued + 8;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_payload_max_length(options.max_body_bytes);
  http_->set_keep_alive_timeout(5);
  http_->set_tcp_nodelay(true);  // each event leaves at once (not after the client's delayed ACK, ~40 ms)
  routes();
  port_ = options.port == 0 ? http_->bind_to_any_port(options.host)
                            : (http_->bind_to_port(options.host, options.port) ? options.port : -1);
  if (port_ <= 0) fail_input("--host/--port: cannot listen on %s:%d (in use, or not an address of this machine)",
                             options.host.c_str(), options.port);
  widen_backlog(port_);
  loader_ = std::thread([this, load] {
    try {
      engine_ = load();
      scheduler_ = std::make_unique<Scheduler>(*engine_, options_.scheduler, metrics_);
      ready_ = true;
    } catch (const std::exception& e) {
      {
        std::lock_guard<std::mutex> lk(load_mu_);
        load_error_ = e.what();
      }
      shutdown();
    }
  });
}

Server::~Server() {
  shutdown();
  if (loader_.joinable()) loader_.join();
  scheduler_.reset();  // before the engine it runs on
}

void Server::run() {
  // httplib's stop() does nothing before the listener runs: a shutdown() that came earlier (a signal,
  // a failed load) is applied here once it does.
  std::atomic<bool> listening_done{false};
  std::thread stopper([&] {
    while (!listening_done) {
      if (stopping_ && http_->is_running()) http_->stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  http_->listen_after_bind();
  listening_done = true;
  stopper.join();
  loader_.join();
  scheduler_.reset();  // every handler has returned: nothing waits on a job any more
  std::lock_guard<std::mutex> lk(load_mu_);
  if (!load_error_.empty()) throw Error(ErrorKind::BadInput, load_error_);
}

void Server::shutdown() {
  stopping_ = true;
  http_->stop();
}

void Server::routes() {
  httplib::Server& s = *http_;
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (options_.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) == 0 && same_key(auth.substr(7), options_.api_key))
      return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, ApiError(401, "authentication_error", "invalid or missing API key (Authorization: Bearer KEY)"));
    metrics_.request(req.path, 401);
    return httplib::Server::HandlerResponse::Handled;
  });
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    const char* what = res.status == 413 ? "the request body is too large" : res.status == 404 ? "no such endpoint"
                                                                                                : "the request was refused";
    send_error(res, ApiError(res.status, "invalid_request_error", what));
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, ApiError(500, "server_error", what));
  });
  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    res.status = ready_ ? 200 : 503;
    res.set_content(ready_ ? "{\"status\":\"ok\"}" : "{\"status\":\"loading\"}", "application/json");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    const Scheduler* sch = ready_ ? scheduler_.get() : nullptr;
    res.set_content(metrics_.prometheus(sch ? sch->queued() : 0, sch ? sch->active() : 0, options_.scheduler.slots),
                    "text/plain; version=0.0.4");
  });
  s.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(models_body(options_.model_id, created_), "application/json");
    metrics_.request("/v1/models", 200);
  });
  s.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { completion(req, res, true); });
  s.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { completion(req, res, false); });
}

JobInput Server::prepare(const CompletionRequest& r) {
  const Engine& engine = *engine_;
  JobInput in;
  try {
    in.ids = r.chat ? prompt_ids(engine.tokenizer(), chat_prompt_chunks(r.system, r.turns))
                    : prompt_ids(engine.tokenizer(), std::string_view(r.prompt));
  } catch (const Error& e) {
    bad_request(r.chat ? "messages" : "prompt", "%s", e.what());
  }
  const int64_t markers = std::count(in.ids.begin(), in.ids.end(), kImageToken);
  if (markers != static_cast<int64_t>(r.images.size()))
    bad_request("prompt", "prompt: contains <image> (completions take no images; use chat with an image_url part)");
  for (const ImageInput& image : r.images) {
    const std::string bytes = image.url.empty() ? image.bytes
                                                : fetch_image(image, options_.remote_image_max_bytes, options_.remote_image_timeout_s);
    try {
      const ImageU8 im = decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), image.param,
                                      options_.max_image_pixels);
      in.pixels.push_back(preprocess_image(im, engine.config()));
    } catch (const Error& e) {
      bad_request(image.param, "%s", e.what());
    }
  }
  const int64_t context = engine.context_length();
  in.positions = static_cast<int64_t>(in.ids.size()) - markers + markers * engine.config().image_tokens();
  if (in.positions >= context || (r.max_tokens > 0 && in.positions + r.max_tokens > context))
    throw ApiError(400, "invalid_request_error",
                   strfmt("this model's context is %lld positions; the prompt takes %lld%s", static_cast<long long>(context),
                          static_cast<long long>(in.positions),
                          r.max_tokens > 0 ? strfmt(" and max_tokens asks for %lld more", static_cast<long long>(r.max_tokens)).c_str() : ""),
                   r.max_tokens > 0 ? "max_tokens" : "messages");
  in.max_new_tokens = r.max_tokens >= 0 ? r.max_tokens : context - in.positions;
  in.sampling.temperature = r.temperature;
  in.sampling.top_p = r.top_p;
  in.sampling.top_k = r.top_k;
  in.sampling.seed = r.seed ? *r.seed : std::random_device{}();
  in.stop = r.stop;
  in.strip = r.chat;
  return in;
}

void Server::completion(const httplib::Request& req, httplib::Response& res, bool chat) {
  const std::string endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
  std::shared_ptr<Job> job;
  CompletionRequest r;
  try {
    if (!ready_) throw ApiError(503, "server_error", "the model is still loading");
    if (stopping_) throw ApiError(503, "server_error", "the server is shutting down");
    RequestLimits limits;
    limits.allow_remote_images = options_.allow_remote_images;
    r = parse_request(req.body, chat, limits);
    r.model = options_.model_id;
    job = scheduler_->submit(prepare(r));
  } catch (const ApiError& e) {
    send_error(res, e);
    metrics_.request(endpoint, e.status);
    return;
  }
  Answer a{std::move(r), strfmt("%s-%llu", chat ? "chatcmpl" : "cmpl", static_cast<unsigned long long>(next_id_++)),
           now_seconds(), std::move(job), std::make_shared<ConnectionWatch>(req)};
  if (a.request.stream) {
    metrics_.request(endpoint, 200);
    return stream_answer(std::move(a), res);
  }
  metrics_.request(endpoint, whole_answer(a, res));
}

}  // namespace tl::server
