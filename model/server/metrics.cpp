// model/server/metrics.cpp — counters and histograms, written as Prometheus text (contract in metrics.h).
#include "model/server/metrics.h"

#include "tensor/error.h"

namespace tl::server {

namespace {

void line(std::string& out, const std::string& name, const std::string& labels, double v) {
  out += name + labels + " " + strfmt("%.17g", v) + "\n";
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += strfmt("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

}  // namespace

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::write(std::string& out, const std::string& name) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    line(out, name + "_bucket", strfmt("{le=\"%g\"}", bounds_[i]), static_cast<double>(cumulative));
  }
  line(out, name + "_bucket", "{le=\"+Inf\"}", static_cast<double>(count_));
  line(out, name + "_sum", "", sum_);
  line(out, name + "_count", "", static_cast<double>(count_));
}

Metrics::Metrics()
    : batch_({1, 2, 4, 8, 16, 32}),
      ttft_({0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60}),
      gap_({0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2}) {}

void Metrics::request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lk(mu_);
  ++requests_[{endpoint, status}];
}

void Metrics::tokens(int64_t prompt, int64_t completion) {
  std::lock_guard<std::mutex> lk(mu_);
  prompt_tokens_ += static_cast<uint64_t>(prompt);
  completion_tokens_ += static_cast<uint64_t>(completion);
}

void Metrics::image(bool from_cache) {
  std::lock_guard<std::mutex> lk(mu_);
  ++(from_cache ? images_cached_ : images_encoded_);
}

void Metrics::decode_step(int batch) {
  std::lock_guard<std::mutex> lk(mu_);
  ++steps_;
  batch_.observe(batch);
}

void Metrics::first_token(double s) {
  std::lock_guard<std::mutex> lk(mu_);
  ttft_.observe(s);
}

void Metrics::token_gap(double s) {
  std::lock_guard<std::mutex> lk(mu_);
  gap_.observe(s);
}

std::string Metrics::prometheus(size_t queued, int active, int slots) const {
  std::lock_guard<std::mutex> lk(mu_);
  std::string out;
  header(out, "tinyllava_requests_total", "counter", "HTTP requests answered, by endpoint and status");
  for (const auto& [key, n] : requests_)
    line(out, "tinyllava_requests_total", strfmt("{endpoint=\"%s\",status=\"%d\"}", key.first.c_str(), key.second),
         static_cast<double>(n));
  header(out, "tinyllava_prompt_tokens_total", "counter", "prompt positions processed (image rows included)");
  line(out, "tinyllava_prompt_tokens_total", "", static_cast<double>(prompt_tokens_));
  header(out, "tinyllava_completion_tokens_total", "counter", "tokens generated");
  line(out, "tinyllava_completion_tokens_total", "", static_cast<double>(completion_tokens_));
  header(out, "tinyllava_images_total", "counter", "images by how they were obtained");
  line(out, "tinyllava_images_total", "{source=\"encoded\"}", static_cast<double>(images_encoded_));
  line(out, "tinyllava_images_total", "{source=\"cache\"}", static_cast<double>(images_cached_));
  header(out, "tinyllava_queue_depth", "gauge", "requests waiting for a slot");
  line(out, "tinyllava_queue_depth", "", static_cast<double>(queued));
  header(out, "tinyllava_active_slots", "gauge", "requests being processed");
  line(out, "tinyllava_active_slots", "", active);
  header(out, "tinyllava_slots", "gauge", "requests that can be processed at once (--parallel)");
  line(out, "tinyllava_slots", "", slots);
  header(out, "tinyllava_decode_batch_size", "histogram", "sequences per batched decode step");
  batch_.write(out, "tinyllava_decode_batch_size");
  header(out, "tinyllava_time_to_first_token_seconds", "histogram", "arrival to first token, queueing included");
  ttft_.write(out, "tinyllava_time_to_first_token_seconds");
  header(out, "tinyllava_time_per_output_token_seconds", "histogram", "time between a request's tokens");
  gap_.write(out, "tinyllava_time_per_output_token_seconds");
  return out;
}

}  // namespace tl::server
