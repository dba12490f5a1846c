// model/cli/pipeline.h — what run, dump, chat and embed share: the image inputs (-i IMAGE|URL,
// --pixels FILE.npy, --image-embeds FILE.npy), the sampling options and the streamed answer.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "model/cli/args.h"
#include "model/session.h"

namespace tl::cli {

std::vector<Option> image_option_list();     // -i, --pixels, --image-embeds
std::vector<Option> sampling_option_list();  // --temp, --top-k, --top-p, --seed, --repeat-penalty
SamplingParams sampling_options(const Args& args);
float repeat_penalty_option(const Args& args);

// Downloads an http(s) URL with the system curl into a temporary file; returns its path.
std::string fetch_url(const std::string& url);
// An image file or URL, decoded and preprocessed for the engine's config.
OwnedTensor load_pixels_from(const std::string& path_or_url, const VlmConfig& config);
// --pixels FILE.npy: f32 [3, S, S] or [1, 3, S, S].
OwnedTensor read_pixels_npy(const std::string& path, const VlmConfig& config);
// The image of -i / --pixels / --image-embeds (at most one), encoded or read; null when none.
// `pixels` receives the preprocessed pixels when there are some (dump writes them).
ImagePtr image_option(const Args& args, Engine& engine, OwnedTensor* pixels, bool keep_features = false);

// Streams text with the surrounding whitespace removed, as chat() returns answer.strip().
class StrippedWriter {
 public:
  explicit StrippedWriter(std::FILE* out = stdout) : out_(out) {}
  void write(const std::string& s);

 private:
  std::FILE* out_;
  bool started_ = false;
  std::string held_;
};

double peak_rss_mib();

// Ctrl-C stops the answer, not the program: install_interrupt() makes SIGINT set a flag (and interrupt
// a blocking read) instead of killing the process; generation polls interrupted().
void install_interrupt();
bool interrupted();
void clear_interrupt();

}  // namespace tl::cli
