// model/capi/tinyllava.cpp — the C API (contract in tinyllava.h) over Engine and Session: every entry
// point catches what the engine throws and turns it into a status and a per-thread message.
#include "model/capi/tinyllava.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <string>

#include "model/image.h"
#include "model/image_codecs.h"
#include "model/session.h"
#include "tensor/error.h"

struct tl_engine {
  std::unique_ptr<tl::Engine> engine;
};

struct tl_session {
  tl_session(tl_engine* e, tl::Session s, tl::ImagePtr image = nullptr)
      : owner(e), session(std::move(s)), pending(std::move(image)) {}
  tl_engine* owner;
  tl::Session session;
  tl::ImagePtr pending;  // for the next question
  std::atomic<bool> stop{false};
  double image_ms = 0;
  tl::Generation last;
  int64_t last_prefilled = 0;
};

namespace {

thread_local std::string t_error;

// Runs f, mapping exceptions to a status and t_error.
template <typename F>
tl_status guarded(F f) {
  try {
    f();
    return TL_OK;
  } catch (const tl::Error& e) {
    t_error = e.what();
    return e.kind() == tl::ErrorKind::BadInput ? TL_ERROR_INPUT : TL_ERROR_INTERNAL;
  } catch (const std::bad_alloc&) {
    t_error = "out of memory";
  } catch (const std::exception& e) {
    t_error = std::string("internal: ") + e.what();
  } catch (...) {
    t_error = "internal: unknown exception";
  }
  return TL_ERROR_INTERNAL;
}

tl_status null_argument(const char* name) {
  t_error = std::string(name) + ": NULL (expected a valid pointer)";
  return TL_ERROR_INPUT;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

tl_status attach(tl_session* s, const std::function<tl::ImagePtr()>& make) {
  if (!s) return null_argument("session");
  return guarded([&] {
    if (s->pending) tl::fail_input("an image is already attached to the next question (one image per question)");
    const auto t0 = std::chrono::steady_clock::now();
    s->pending = make();
    s->image_ms = ms_since(t0);
  });
}

tl::EngineOptions engine_options(const tl_engine_options& o) {
  tl::EngineOptions e;
  e.device = o.device == TL_DEVICE_CUDA ? tl::Device::CUDA : tl::Device::CPU;
  e.kernels.threads = o.threads;
  e.kernels.isa = o.isa ? o.isa : "auto";
  e.kernels.reference = o.reference_kernels != 0;
  e.kernels.precision = o.precision == TL_PRECISION_F32 || (o.precision == TL_PRECISION_AUTO && !tl::ops::bf16_supported())
                            ? tl::ops::Precision::F32
                            : tl::ops::Precision::BF16;
  if (o.precision == TL_PRECISION_BF16 && !tl::ops::bf16_supported())
    tl::fail_input("precision bf16: this CPU has no AVX512_BF16 (use TL_PRECISION_F32 or AUTO)");
  e.context = o.context;
  return e;
}

}  // namespace

extern "C" {

const char* tl_version(void) { return TINYLLAVA_VERSION; }
const char* tl_last_error(void) { return t_error.c_str(); }

void tl_engine_options_init(tl_engine_options* o) {
  if (!o) return;
  *o = tl_engine_options{TL_DEVICE_CPU, TL_PRECISION_AUTO, 0, nullptr, 0, 0};
}

tl_status tl_engine_load(const char* dir, const tl_engine_options* options, tl_engine** engine) {
  if (!dir) return null_argument("checkpoint_dir");
  if (!engine) return null_argument("engine");
  *engine = nullptr;
  return guarded([&] {
    tl_engine_options defaults;
    tl_engine_options_init(&defaults);
    auto e = std::make_unique<tl_engine>();
    e->engine = std::make_unique<tl::Engine>(dir, engine_options(options ? *options : defaults));
    *engine = e.release();
  });
}

void tl_engine_free(tl_engine* engine) { delete engine; }

tl_status tl_session_new(tl_engine* engine, const char* system, tl_session** session) {
  if (!engine) return null_argument("engine");
  if (!session) return null_argument("session");
  *session = nullptr;
  return guarded([&] {
    *session = new tl_session(engine, tl::Session(*engine->engine, system ? system : tl::kSystemPrompt));
  });
}

tl_status tl_session_fork(const tl_session* s, tl_session** copy) {
  if (!s) return null_argument("session");
  if (!copy) return null_argument("copy");
  *copy = nullptr;
  return guarded([&] {
    *copy = new tl_session(s->owner, s->session.fork(), s->pending);
  });
}

void tl_session_free(tl_session* session) { delete session; }

tl_status tl_session_clear(tl_session* s) {
  if (!s) return null_argument("session");
  return guarded([&] {
    s->session.clear();
    s->pending = nullptr;
  });
}

tl_status tl_session_undo(tl_session* s) {
  if (!s) return null_argument("session");
  return guarded([&] {
    if (!s->session.undo()) tl::fail_input("undo: the session has no turn");
  });
}

tl_status tl_session_add_image_file(tl_session* s, const char* path) {
  if (!path) return null_argument("path_or_url");
  return attach(s, [&] {
    if (std::strncmp(path, "http://", 7) == 0 || std::strncmp(path, "https://", 8) == 0)
      tl::fail_input("%s: URLs are fetched by the command line tool; download it and pass the file", path);
    tl::OwnedTensor pixels = tl::preprocess_image(tl::load_image(path), s->owner->engine->config());
    return s->owner->engine->encode_image(pixels.tensor);
  });
}

tl_status tl_session_add_image_rgb(tl_session* s, const uint8_t* rgb, int width, int height) {
  if (!rgb) return null_argument("rgb");
  return attach(s, [&] {
    tl::check_image_size("image", width, height, tl::kMaxImagePixels);
    tl::ImageU8 im;
    im.width = width;
    im.height = height;
    im.rgb.assign(rgb, rgb + static_cast<size_t>(width) * height * 3);
    tl::OwnedTensor pixels = tl::preprocess_image(im, s->owner->engine->config());
    return s->owner->engine->encode_image(pixels.tensor);
  });
}

tl_status tl_session_add_image_embeddings(tl_session* s, const float* rows, int64_t n_rows, int64_t width) {
  if (!rows) return null_argument("rows");
  return attach(s, [&] {
    if (n_rows <= 0 || width <= 0) tl::fail_input("image embeddings: [%lld, %lld] (expected positive sizes)",
                                                  static_cast<long long>(n_rows), static_cast<long long>(width));
    const tl::Tensor view = tl::Tensor::view(const_cast<float*>(rows), tl::DType::F32, {n_rows, width});
    return s->owner->engine->image_from_rows(view, "image embeddings");
  });
}

void tl_generate_options_init(tl_generate_options* o) {
  if (!o) return;
  *o = tl_generate_options{512, 0.0f, 0, 1.0f, 0, 1.0f, 1};
}

tl_status tl_session_ask(tl_session* s, const char* question, const tl_generate_options* options,
                         tl_token_callback callback, void* user, char** answer) {
  if (!s) return null_argument("session");
  if (!question) return null_argument("question");
  if (answer) *answer = nullptr;
  return guarded([&] {
    tl_generate_options o;
    tl_generate_options_init(&o);
    if (options) o = *options;
    tl::GenerateParams p;
    p.max_new_tokens = o.max_new_tokens;
    p.sampling = tl::SamplingParams{o.temperature, o.top_k, o.top_p, o.seed};
    p.repeat_penalty = o.repeat_penalty;
    p.num_beams = o.num_beams;
    if (p.sampling.top_p <= 0 || p.sampling.top_p > 1) tl::fail_input("top_p: %g (expected a number in (0, 1])", p.sampling.top_p);
    tl::StreamDecoder decoder(s->owner->engine->tokenizer(), /*skip_special=*/true);
    std::string text;
    s->stop = false;
    const int64_t before = s->session.prefilled_positions();
    tl::ImagePtr image = s->pending;
    s->last = s->session.ask(question, image, p, [&](int id) {
      const std::string piece = decoder.push(id);
      text += piece;
      const bool go_on = !callback || callback(id, piece.c_str(), user) != 0;
      return go_on && !s->stop.load();
    });
    s->pending = nullptr;
    s->last_prefilled = s->session.prefilled_positions() - before;
    if (!image) s->image_ms = 0;
    const std::string rest = decoder.finish();
    if (callback && !rest.empty()) callback(-1, rest.c_str(), user);
    text += rest;
    if (answer) {
      const size_t b = text.find_first_not_of(" \t\n\r"), e = text.find_last_not_of(" \t\n\r");
      const std::string stripped = b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
      *answer = static_cast<char*>(std::malloc(stripped.size() + 1));
      if (!*answer) throw std::bad_alloc();
      std::memcpy(*answer, stripped.c_str(), stripped.size() + 1);
    }
  });
}

void tl_session_stop(tl_session* s) {
  if (s) s->stop = true;
}

tl_status tl_session_timings(const tl_session* s, tl_timings* t) {
  if (!s) return null_argument("session");
  if (!t) return null_argument("timings");
  const size_t n = s->last.tokens.size();
  *t = tl_timings{s->image_ms, s->session.last_prefill_s() * 1e3, s->last.decode_s * 1e3, s->last_prefilled,
                  static_cast<int64_t>(n), s->session.length(), s->session.context_length(),
                  s->owner->engine->images_encoded(), static_cast<tl_finish>(s->last.finish)};
  return TL_OK;
}

void tl_free_string(char* s) { std::free(s); }

}  // extern "C"
