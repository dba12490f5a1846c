// model/server/scheduler.h — continuous batching: up to `slots` requests in flight on one engine.
//
// One thread owns the engine (its stages run one at a time). Each turn of its loop it
//   1. drops the slots whose client left or whose time ran out, and admits queued jobs into free slots;
//   2. runs one prefill (encoding the job's images first; the engine caches them by content hash, so
//      an image sent twice is encoded once) and samples that job's first token;
//   3. runs one decode step for every slot that is generating, as a single batched pass
//      (Session::decode_batch: each weight read once for all of them), and samples each slot's next
//      token with its own sampler.
// So new requests join between decode steps, and a long answer never blocks a short one. A slot keeps
// its session (and KV cache) between jobs: a prompt that starts like the slot's last one prefills only
// the rest, with the same logits (Session::prefill); nothing else carries over.
//
// Jobs talk to the HTTP threads through Job: the scheduler appends text and finishes it, the HTTP side
// waits for output and may cancel it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "model/server/metrics.h"
#include "model/server/protocol.h"
#include "model/session.h"

namespace tl::server {

using Clock = std::chrono::steady_clock;

// What a request asks the engine for, prepared by the HTTP thread (tokenized, images decoded).
struct JobInput {
  std::vector<int> ids;             // with kImageToken where each image goes
  std::vector<OwnedTensor> pixels;  // one preprocessed image per marker, in order
  int64_t positions = 0;            // the prompt's length in the cache (images expanded)
  int64_t max_new_tokens = 0;       // the context's end when the request set no limit
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool strip = true;                // chat: the answer without surrounding whitespace, as chat() returns it
  Clock::time_point arrived = Clock::now();
};

class Job {
 public:
  struct Output {
    std::string text;           // new text since the last take()
    bool done = false;
    std::string finish_reason;  // stop | length
    Usage usage;
    std::optional<ApiError> error;
  };
  explicit Job(JobInput in) : input(std::move(in)) {}
  // Waits until there is new text or the job ended (or `timeout`); moves what arrived into `out`.
  void take(Output& out, std::chrono::milliseconds timeout);
  void cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

  JobInput input;

  // The scheduler's side.
  void append(const std::string& text);
  void finish(const std::string& reason, const Usage& usage);
  void fail(const ApiError& e);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  Output pending_;
  std::atomic<bool> cancelled_{false};
};

struct SchedulerOptions {
  int slots = 4;                   // requests generating at once (the decode batch's rows)
  size_t max_queued = 32;          // waiting for a slot beyond that: 429
  double timeout_s = 600;          // a request still running after this ends with finish_reason "length"
  bool batch = true;               // false: each slot's decode step on its own (the benchmark's baseline)
};

class Scheduler {
 public:
  Scheduler(Engine& engine, const SchedulerOptions& options, Metrics& metrics);
  ~Scheduler();  // cancels what is left and joins the thread
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a job; ApiError 429 when every slot is busy and the queue is full. (Draining on shutdown is
  // the HTTP server's: it stops accepting, and its handlers wait for their jobs.)
  std::shared_ptr<Job> submit(JobInput input);
  int active() const { return active_; }
  size_t queued() const;

 private:
  struct Slot;
  void loop();
  void sweep(Slot& s);
  void start(Slot& s);  // prefill and the first token
  void decode_all();    // one batched step
  void advance(Slot& s, int id);
  void end(Slot& s, const std::string& reason);

  Engine& engine_;
  SchedulerOptions options_;
  Metrics& metrics_;
  std::vector<std::unique_ptr<Slot>> slots_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool quit_ = false;
  std::atomic<int> active_{0};
  std::thread thread_;
};

// The answer's text as the client sees it: stop strings end it (the text before the first one is
// kept), and with `strip` surrounding whitespace is dropped. Text that could still become a stop
// string, or trailing whitespace, is held back until what follows decides.
class AnswerText {
 public:
  AnswerText(std::vector<std::string> stop, bool strip) : stop_(std::move(stop)), strip_(strip) {}
  // Appends decoded text; returns what can be sent now. *stopped: a stop string appeared.
  std::string add(const std::string& text, bool* stopped);
  std::string finish();  // what is held at the end

 private:
  std::vector<std::string> stop_;
  bool strip_;
  bool started_ = false;
  std::string held_;
};

}  // namespace tl::server
