// model/cli/serve.cpp — `tinyllava serve`: the OpenAI-compatible HTTP server (model/server/server.h)
// with SIGTERM / SIGINT draining the requests in flight before the process exits.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "model/cli/args.h"
#include "model/cli/commands.h"
#include "model/cli/options.h"
#include "model/image.h"
#include "model/server/server.h"
#include "tensor/clock.h"
#include "tensor/error.h"

namespace tl::cli {

namespace {

std::string base_name(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const size_t slash = dir.rfind('/');
  return slash == std::string::npos ? dir : dir.substr(slash + 1);
}

server::ServerOptions server_options(const Args& args, const std::string& dir) {
  server::ServerOptions opt;
  opt.host = args.str("--host", "127.0.0.1");
  opt.port = static_cast<int>(args.integer("--port", 8080, 0, 65535));
  opt.scheduler.slots = static_cast<int>(args.integer("--parallel", 4, 1, 64));
  opt.scheduler.batch = !args.has("--no-batch");
  opt.scheduler.max_queued = static_cast<size_t>(args.integer("--queue", 32, 0, 4096));
  opt.scheduler.timeout_s = args.number("--timeout", 600, 0.001, 1e7);
  const char* env_key = std::getenv("TINYLLAVA_API_KEY");
  opt.api_key = args.str("--api-key", env_key ? env_key : "");
  opt.allow_remote_images = args.has("--allow-remote-images");
  opt.max_body_bytes = static_cast<size_t>(args.integer("--max-body", 32, 1, 4096)) << 20;
  opt.max_image_pixels = args.integer("--max-image-pixels", 16ll << 20, 1, kMaxImagePixels);
  opt.model_id = args.str("--alias", base_name(dir));
  return opt;
}

// SIGTERM and SIGINT blocked in this thread (and so in every thread it starts), SIGPIPE ignored (a
// client that left is seen by the write that fails).
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

// A thread that waits for the blocked signals: the first shuts the server down (it finishes the
// requests in flight), a second exits at once. Destroying it ends the thread.
class SignalWaiter {
 public:
  SignalWaiter(const sigset_t& signals, server::Server& srv) : signals_(signals), thread_([this, &srv] { wait(srv); }) {}
  ~SignalWaiter() {
    done_ = true;
    pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }

 private:
  void wait(server::Server& srv) {
    for (int received = 0;; ++received) {
      int sig = 0;
      sigwait(&signals_, &sig);
      if (done_) return;
      if (received > 0) {
        std::fprintf(stderr, "tinyllava serve: second signal: exiting without waiting\n");
        std::_Exit(130);
      }
      std::fprintf(stderr, "tinyllava serve: %s: finishing the requests in flight, then exiting (again to leave now)\n",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
      srv.shutdown();
    }
  }
  sigset_t signals_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace

int cmd_serve(int argc, char** argv) {
  std::vector<Option> options = {
      {"-m", "--model", "DIR", "checkpoint directory"},
      {nullptr, "--host", "ADDR", "address to listen on (default 127.0.0.1: this machine only)"},
      {nullptr, "--port", "N", "port (default 8080; 0: any free port, printed)"},
      {nullptr, "--parallel", "N", "requests generating at once, decoded as one batch (default 4)"},
      {nullptr, "--no-batch", nullptr, "decode the slots one after another instead of as one batch (for comparison)"},
      {nullptr, "--queue", "N", "requests that may wait for a slot; more are answered 429 (default 32)"},
      {nullptr, "--timeout", "S", "a request still generating after S seconds ends with finish_reason length (default 600)"},
      {nullptr, "--api-key", "KEY", "require 'Authorization: Bearer KEY' (default: $TINYLLAVA_API_KEY, else none)"},
      {nullptr, "--allow-remote-images", nullptr, "accept http(s) image URLs (fetched with a size and a time limit)"},
      {nullptr, "--max-body", "MB", "largest request body (default 32)"},
      {nullptr, "--max-image-pixels", "N", "largest image, in pixels (default 16777216)"},
      {nullptr, "--alias", "NAME", "the model's name in /v1/models and answers (default: the directory's name)"},
  };
  for (const Option& o : engine_option_list(true)) options.push_back(o);
  Args args("serve", "Serve the model over HTTP with the OpenAI chat and completions API.", options);
  if (!args.parse(argc, argv, 2)) return 0;
  const std::string dir = args.required("--model");
  const server::ServerOptions opt = server_options(args, dir);
  const EngineOptions engine_opts = engine_options(args, "serve");
  const sigset_t stop_signals = block_stop_signals();  // before any thread starts: they all inherit it
  server::Server srv(opt, [&] {
    const auto t0 = Clock::now();
    auto engine = std::make_unique<Engine>(dir, engine_opts);
    std::fprintf(stderr, "tinyllava serve: %s loaded in %.1f s (%s); ready\n", dir.c_str(), seconds_since(t0),
                 engine_summary(*engine).c_str());
    return engine;
  });
  std::fprintf(stderr, "tinyllava serve: listening on http://%s:%d (%d slots, queue %zu%s)\n", opt.host.c_str(),
               srv.port(), opt.scheduler.slots, opt.scheduler.max_queued, opt.api_key.empty() ? "" : ", API key required");
  SignalWaiter waiter(stop_signals, srv);
  srv.run();
  std::fprintf(stderr, "tinyllava serve: stopped\n");
  return 0;
}

}  // namespace tl::cli
