// model/server/scheduler.cpp — slots, the batched decode loop and the jobs' text (contract in
// scheduler.h).
#include "model/server/scheduler.h"

#include <algorithm>
#include <cctype>

#include "tensor/error.h"

namespace tl::server {

namespace {

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

}  // namespace

// ---- Job -----------------------------------------------------------------------------------------------

void Job::take(Output& out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait_for(lk, timeout, [&] { return !pending_.text.empty() || pending_.done; });
  out.text = std::move(pending_.text);
  pending_.text.clear();
  out.done = pending_.done;
  out.finish_reason = pending_.finish_reason;
  out.usage = pending_.usage;
  out.error = pending_.error;
}

void Job::append(const std::string& text) {
  if (text.empty()) return;
  std::lock_guard<std::mutex> lk(mu_);
  pending_.text += text;
  cv_.notify_all();
}

void Job::finish(const std::string& reason, const Usage& usage) {
  std::lock_guard<std::mutex> lk(mu_);
  pending_.done = true;
  pending_.finish_reason = reason;
  pending_.usage = usage;
  cv_.notify_all();
}

void Job::fail(const ApiError& e) {
  std::lock_guard<std::mutex> lk(mu_);
  pending_.done = true;
  pending_.error = e;
  cv_.notify_all();
}

// ---- AnswerText ----------------------------------------------------------------------------------------

std::string AnswerText::add(const std::string& text, bool* stopped) {
  *stopped = false;
  held_ += text;
  if (strip_ && !started_) {
    size_t i = 0;
    while (i < held_.size() && is_space(held_[i])) ++i;
    held_.erase(0, i);
    started_ = !held_.empty();
  }
  size_t first = std::string::npos;
  for (const std::string& s : stop_) first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    held_.resize(first);
    *stopped = true;
    return finish();
  }
  // Hold back the longest tail that could start a stop string, and (strip) trailing whitespace.
  size_t hold = 0;
  for (const std::string& s : stop_)
    for (size_t k = std::min(s.size() - 1, held_.size()); k > hold; --k)
      if (held_.compare(held_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  if (strip_)  // and the whitespace before it: it is dropped if the answer ends there
    while (hold < held_.size() && is_space(held_[held_.size() - 1 - hold])) ++hold;
  std::string out = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return out;
}

std::string AnswerText::finish() {
  std::string out = std::move(held_);
  held_.clear();
  if (strip_)
    while (!out.empty() && is_space(out.back())) out.pop_back();
  return out;
}

// ---- Scheduler -----------------------------------------------------------------------------------------

struct Scheduler::Slot {
  explicit Slot(Engine& engine) : session(engine) {}
  enum class State { Idle, Prefill, Decode } state = State::Idle;
  Session session;
  std::shared_ptr<Job> job;
  std::optional<Sampler> sampler;
  std::optional<StreamDecoder> decoder;
  std::optional<AnswerText> answer;
  int next_id = 0;            // sampled, to be fed by the next decode step
  int64_t generated = 0;      // tokens sampled (EOS not counted)
  Clock::time_point last_token;
};

Scheduler::Scheduler(Engine& engine, const SchedulerOptions& options, Metrics& metrics)
    : engine_(engine), options_(options), metrics_(metrics) {
  if (options.slots < 1) fail_input("--parallel: expected at least 1 slot, got %d", options.slots);
  for (int i = 0; i < options.slots; ++i) slots_.push_back(std::make_unique<Slot>(engine));
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    quit_ = true;
    for (auto& j : queue_) j->fail(ApiError(503, "server_error", "the server is shutting down"));
    queue_.clear();
  }
  cv_.notify_all();
  thread_.join();
  for (auto& s : slots_)
    if (s->job) s->job->fail(ApiError(503, "server_error", "the server is shutting down"));
}

size_t Scheduler::queued() const {
  std::lock_guard<std::mutex> lk(mu_);
  return queue_.size();
}

std::shared_ptr<Job> Scheduler::submit(JobInput input) {
  auto job = std::make_shared<Job>(std::move(input));
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (quit_) throw ApiError(503, "server_error", "the server is shutting down");
    if (static_cast<size_t>(active_) + queue_.size() >= static_cast<size_t>(options_.slots) + options_.max_queued)
      throw ApiError(429, "rate_limit_error",
                     strfmt("all %d slots are busy and %zu requests are queued; retry later", options_.slots, queue_.size()));
    queue_.push_back(job);
  }
  cv_.notify_all();
  return job;
}

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      // Wake at least every 100 ms while busy, to notice clients that left.
      cv_.wait_for(lk, std::chrono::milliseconds(active_ ? 0 : 100), [&] { return quit_ || !queue_.empty() || active_; });
      if (quit_) return;
      for (auto& s : slots_) {
        if (s->state != Slot::State::Idle || queue_.empty()) continue;
        s->job = std::move(queue_.front());
        queue_.pop_front();
        s->state = Slot::State::Prefill;
        ++active_;
      }
    }
    for (auto& s : slots_) sweep(*s);
    for (auto& s : slots_)
      if (s->state == Slot::State::Prefill) {
        start(*s);
        break;  // one prefill between decode steps
      }
    decode_all();
  }
}

// A job whose client left, or whose time is up, ends here.
void Scheduler::sweep(Slot& s) {
  if (s.state == Slot::State::Idle) return;
  if (s.job->cancelled()) return end(s, "");
  if (seconds(Clock::now() - s.job->input.arrived) > options_.timeout_s) end(s, "length");
}

void Scheduler::start(Slot& s) {
  JobInput& in = s.job->input;
  try {
    Prompt prompt{in.ids, {}};
    for (const OwnedTensor& pixels : in.pixels) {
      const int64_t before = engine_.images_encoded();
      prompt.images.push_back(engine_.encode_image(pixels.tensor));
      metrics_.image(engine_.images_encoded() == before);
    }
    s.session.prefill(prompt);
  } catch (const Error& e) {
    const bool input = e.kind() == ErrorKind::BadInput;
    s.job->fail(ApiError(input ? 400 : 500, input ? "invalid_request_error" : "server_error", e.what()));
    return end(s, "");
  }
  metrics_.tokens(in.positions, 0);
  in.pixels.clear();  // the rows are in the cache (and the engine's image cache)
  s.sampler.emplace(in.sampling);
  s.decoder.emplace(engine_.tokenizer());
  s.answer.emplace(in.stop, in.strip);
  s.generated = 0;
  if (in.max_new_tokens == 0) return end(s, "length");
  metrics_.first_token(seconds(Clock::now() - in.arrived));
  s.last_token = Clock::now();
  advance(s, s.sampler->sample(s.session.logits(), static_cast<int>(s.session.vocab_size())));
}

void Scheduler::decode_all() {
  std::vector<Slot*> batch;
  std::vector<Session*> sessions;
  std::vector<int> ids;
  for (auto& s : slots_)
    if (s->state == Slot::State::Decode) {
      batch.push_back(s.get());
      sessions.push_back(&s->session);
      ids.push_back(s->next_id);
    }
  if (batch.empty()) return;
  try {
    if (options_.batch) {
      Session::decode_batch(sessions, ids);
    } else {
      for (size_t i = 0; i < sessions.size(); ++i) sessions[i]->decode_step(ids[i]);
    }
  } catch (const Error& e) {
    for (Slot* s : batch) {
      s->job->fail(ApiError(500, "server_error", e.what()));
      end(*s, "");
    }
    return;
  }
  metrics_.decode_step(static_cast<int>(batch.size()));
  const Clock::time_point now = Clock::now();
  for (Slot* s : batch) {
    metrics_.token_gap(seconds(now - s->last_token));
    s->last_token = now;
    advance(*s, s->sampler->sample(s->session.logits(), static_cast<int>(s->session.vocab_size())));
  }
}

// Takes the sampled token: ends the job, or keeps it for the next decode step.
void Scheduler::advance(Slot& s, int id) {
  if (id == s.session.eos_id()) return end(s, "stop");
  ++s.generated;
  bool stopped = false;
  s.job->append(s.answer->add(s.decoder->push(id), &stopped));
  if (stopped) return end(s, "stop");
  if (s.generated >= s.job->input.max_new_tokens || s.session.length() >= s.session.context_length())
    return end(s, "length");
  s.next_id = id;
  s.state = Slot::State::Decode;
}

// Frees the slot, then sends what is held and the usage, so that a client reading /metrics after its
// answer sees the slot free and its tokens counted; an empty reason: the job is dropped (cancelled or
// already failed).
void Scheduler::end(Slot& s, const std::string& reason) {
  std::string tail;
  if (!reason.empty()) {
    bool stopped = false;
    tail = s.decoder ? s.answer->add(s.decoder->finish(), &stopped) : "";
    if (s.answer && !stopped) tail += s.answer->finish();
    metrics_.tokens(0, s.generated);
  }
  const auto job = std::move(s.job);
  const int64_t generated = s.generated;
  s.sampler.reset();
  s.decoder.reset();
  s.answer.reset();
  s.state = Slot::State::Idle;
  --active_;
  if (reason.empty()) return;
  job->append(tail);
  job->finish(reason, Usage{job->input.positions, generated});
}

}  // namespace tl::server
