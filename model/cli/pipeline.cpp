// model/cli/pipeline.cpp — image inputs, sampling options, streamed output (contract in pipeline.h).
#include "model/cli/pipeline.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>

#include "model/image.h"
#include "tensor/error.h"
#include "weights/npy.h"

namespace tl::cli {

namespace {

std::atomic<bool> g_interrupted{false};  // set by SIGINT (async-signal-safe: a lock-free atomic store)

void on_sigint(int) { g_interrupted = true; }

bool is_url(const std::string& s) { return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0; }

// curl's exit codes a user meets, in words (man curl, EXIT CODES).
const char* curl_reason(int code) {
  switch (code) {
    case 3: return "malformed URL";
    case 5: return "could not resolve proxy";
    case 6: return "could not resolve host";
    case 7: return "could not connect to the host";
    case 22: return "the server returned an HTTP error (4xx/5xx)";
    case 28: return "timed out";
    case 35: return "TLS handshake failed";
    case 47: return "too many redirects";
    case 52: return "the server sent nothing";
    case 56: return "the connection broke while receiving";
    case 60: return "the server's TLS certificate could not be verified";
    case 63: return "larger than the 256 MiB limit";
    case 127: return "curl is not installed (make deps)";
    default: return nullptr;
  }
}

}  // namespace

std::vector<Option> image_option_list() {
  return {{"-i", "--image", "IMAGE", "image file (JPEG, PNG, BMP, GIF, PNM, WebP, TIFF) or http(s) URL (fetched with curl)"},
          {nullptr, "--pixels", "FILE.npy", "preprocessed pixel values, f32 [3,S,S] or [1,3,S,S], instead of -i"},
          {nullptr, "--image-embeds", "FILE.npy", "projected image rows from 'tinyllava embed' (f32 [N,D]), instead of -i: "
                                                  "the vision tower is skipped"}};
}

std::vector<Option> sampling_option_list() {
  return {{nullptr, "--temp", "T", "sampling temperature (default 0: greedy)"},
          {nullptr, "--top-k", "K", "sample from the K most likely tokens (default 0: all)"},
          {nullptr, "--top-p", "P", "sample from the smallest set with probability P (default 1)"},
          {nullptr, "--seed", "S", "random seed for sampling (default 0)"},
          {nullptr, "--repeat-penalty", "R", "divide the logits of tokens already in the answer by R (HF "
                                             "repetition_penalty; default 1: off)"}};
}

SamplingParams sampling_options(const Args& args) {
  SamplingParams s;
  s.temperature = static_cast<float>(args.number("--temp", 0.0, 0.0, 100.0));
  s.top_k = static_cast<int>(args.integer("--top-k", 0, 0, 1 << 30));
  s.top_p = static_cast<float>(args.number("--top-p", 1.0, 0.0, 1.0));
  if (args.has("--top-p") && s.top_p <= 0.0f) fail_input("--top-p: expected a number in (0, 1]");
  s.seed = static_cast<uint64_t>(args.integer("--seed", 0, 0, INT64_MAX));
  return s;
}

float repeat_penalty_option(const Args& args) {
  const double r = args.number("--repeat-penalty", 1.0, 0.0, 100.0);
  if (r <= 0) fail_input("--repeat-penalty: expected a positive number, got %g", r);
  return static_cast<float>(r);
}

std::string fetch_url(const std::string& url) {
  char tmpl[] = "/tmp/tinyllava-image-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) fail_input("%s: cannot create a temporary file", url.c_str());
  ::close(fd);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execlp("curl", "curl", "-fsL", "--max-time", "120", "--max-filesize", "268435456", "-o", tmpl, url.c_str(),
             static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) < 0) fail_input("%s: cannot run curl", url.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ::unlink(tmpl);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    const char* why = curl_reason(code);
    if (why) fail_input("%s: download failed: %s", url.c_str(), why);
    fail_input("%s: download failed (curl exit code %d)", url.c_str(), code);
  }
  return tmpl;
}

OwnedTensor load_pixels_from(const std::string& path_or_url, const VlmConfig& config) {
  const bool url = is_url(path_or_url);
  const std::string path = url ? fetch_url(path_or_url) : path_or_url;
  ImageU8 im;
  try {
    im = load_image(path);
  } catch (...) {
    if (url) ::unlink(path.c_str());
    throw;
  }
  if (url) ::unlink(path.c_str());
  return preprocess_image(im, config);
}

OwnedTensor read_pixels_npy(const std::string& path, const VlmConfig& config) {
  OwnedTensor pixels = read_npy_f32(path);
  const int S = config.vision.image_size;
  Tensor& t = pixels.tensor;
  if (t.has_shape({1, 3, S, S})) t = t.reshape({3, S, S});
  if (!t.has_shape({3, S, S}))
    fail_input("%s: shape %s (expected [3, %d, %d] or [1, 3, %d, %d])", path.c_str(), shape_str(t).c_str(), S, S, S, S);
  return pixels;
}

ImagePtr image_option(const Args& args, Engine& engine, OwnedTensor* pixels, bool keep_features) {
  const int given = args.has("--image") + args.has("--pixels") + args.has("--image-embeds");
  if (given > 1) fail_input("give one of -i, --pixels and --image-embeds, not several");
  if (args.has("--image-embeds")) {
    const std::string path = args.str("--image-embeds");
    OwnedTensor rows = read_npy_f32(path);
    return engine.image_from_rows(rows.tensor, path);
  }
  if (args.has("--pixels"))
    *pixels = read_pixels_npy(args.str("--pixels"), engine.config());
  else if (args.has("--image"))
    *pixels = load_pixels_from(args.str("--image"), engine.config());
  else
    return nullptr;
  return engine.encode_image(pixels->tensor, keep_features);
}

void StrippedWriter::write(const std::string& s) {
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (started_) held_ += c;
      continue;
    }
    started_ = true;
    std::fputs(held_.c_str(), out_);
    held_.clear();
    std::fputc(c, out_);
  }
  std::fflush(out_);
}

void install_interrupt() {
  struct sigaction sa = {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a read waiting for input returns EINTR
  ::sigaction(SIGINT, &sa, nullptr);
}

bool interrupted() { return g_interrupted.load(); }
void clear_interrupt() { g_interrupted = false; }

double peak_rss_mib() {
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

}  // namespace tl::cli
