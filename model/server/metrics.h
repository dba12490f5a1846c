// model/server/metrics.h — what GET /metrics reports, in Prometheus' text format (version 0.0.4):
// requests by endpoint and status, prompt and completion tokens, images encoded and served from the
// cache, the decode batch's size, and histograms of time to first token (from arrival, queueing
// included) and of the time between a request's tokens. Gauges (queue depth, active slots) are read
// when the page is written. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace tl::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double v);
  // name_bucket{le=...}, name_sum, name_count lines
  void write(std::string& out, const std::string& name) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); the last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  void request(const std::string& endpoint, int status);
  void tokens(int64_t prompt, int64_t completion);
  void image(bool from_cache);
  void decode_step(int batch);
  void first_token(double seconds);
  void token_gap(double seconds);
  std::string prometheus(size_t queued, int active, int slots) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0, completion_tokens_ = 0, images_encoded_ = 0, images_cached_ = 0, steps_ = 0;
  Histogram batch_, ttft_, gap_;
};

}  // namespace tl::server
