// model/server/server.h — `tinyllava serve`: the OpenAI-compatible HTTP server (cpp-httplib).
//
//   POST /v1/chat/completions, POST /v1/completions   (protocol.h; streamed as server-sent events
//                                                      ending "data: [DONE]" when stream is true)
//   GET  /v1/models, GET /health (200 ready, 503 loading), GET /metrics (Prometheus text, metrics.h)
//
// Requests are parsed, tokenized and their images decoded on the HTTP threads, so a bad request is
// answered 400 before it waits for anything; the scheduler (scheduler.h) runs the model. With an API
// key every endpoint except /health needs "Authorization: Bearer KEY" (401). Limits: the body size
// (413), image pixels, the context (400), queued requests (429) and the request time. A client that
// disconnects has its request cancelled within ~0.1 s and its slot freed (status 499 in /metrics). shutdown() stops accepting
// and returns once in-flight requests have finished (SIGTERM in `tinyllava serve`).
// The server keeps no state between requests (a slot's cache only shortcuts identical prefixes), so
// replicas behind any load balancer are interchangeable.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "model/engine.h"
#include "model/server/metrics.h"
#include "model/server/protocol.h"
#include "model/server/scheduler.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}

namespace tl::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                     // 0: any free port (port() says which)
  std::string model_id = "tinyllava";  // what /v1/models and the answers call the model
  std::string api_key;                 // empty: no authentication
  bool allow_remote_images = false;    // image_url may be http(s): fetched with the limits below
  SchedulerOptions scheduler;          // --parallel, queue length, request time limit
  size_t max_body_bytes = 32u << 20;
  int64_t max_image_pixels = 16ll << 20;
  size_t remote_image_max_bytes = 20u << 20;
  double remote_image_timeout_s = 10;
};

class Server {
 public:
  // Binds the address at once (an input error when it cannot) and loads the engine with `load` on a
  // background thread; until it is ready /health answers 503 "loading" and the API 503.
  Server(const ServerOptions& options, std::function<std::unique_ptr<Engine>()> load);
  ~Server();
  int port() const { return port_; }
  // Serves until shutdown(); rethrows the loader's error if loading failed.
  void run();
  // Stops accepting connections; run() returns when the requests in flight have been answered.
  // Callable from any thread.
  void shutdown();
  bool ready() const { return ready_; }

 private:
  void routes();
  void completion(const httplib::Request& req, httplib::Response& res, bool chat);
  JobInput prepare(const CompletionRequest& r);  // tokenized, images decoded, limits checked

  ServerOptions options_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  Metrics metrics_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Scheduler> scheduler_;
  std::atomic<bool> ready_{false}, stopping_{false};
  std::thread loader_;
  std::mutex load_mu_;
  std::string load_error_;
  int64_t created_ = 0;
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace tl::server
