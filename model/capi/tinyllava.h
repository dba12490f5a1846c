/* tinyllava.h — the C API of tinyllava.cpp: load a TinyLLaVA-OpenELM-SigLIP checkpoint, hold
 * conversations (sessions) about images, stream answers.
 *
 * Every function that can fail returns a tl_status; on failure tl_last_error() holds one line saying
 * what and why (per thread, valid until the next call on that thread). No C++ exception crosses this
 * interface. Objects are opaque; free what a *_new / *_load / *_fork returned with its *_free.
 * One engine runs one stage at a time: use a session from one thread at a time, and sessions of the
 * same engine one after another. Free an engine's sessions before the engine. tl_session_stop() may be called from any thread (or a signal handler).
 *
 * Link with -ltinyllava (pkg-config --libs tinyllava). */
#ifndef TINYLLAVA_H
#define TINYLLAVA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TL_OK = 0,
  TL_ERROR_INTERNAL = 1, /* a broken invariant, a failing device, out of memory */
  TL_ERROR_INPUT = 2     /* a file, field or argument the caller gave (the message names it) */
} tl_status;

typedef enum { TL_DEVICE_CPU = 0, TL_DEVICE_CUDA = 1 } tl_device;
typedef enum { TL_PRECISION_AUTO = 0, TL_PRECISION_F32 = 1, TL_PRECISION_BF16 = 2 } tl_precision;
typedef enum { TL_FINISH_EOS = 0, TL_FINISH_LENGTH = 1, TL_FINISH_CONTEXT = 2, TL_FINISH_STOPPED = 3 } tl_finish;

typedef struct tl_engine tl_engine;
typedef struct tl_session tl_session;

typedef struct {
  tl_device device;
  tl_precision precision; /* AUTO: bf16 where the CPU has a bf16 GEMM, else f32 */
  int threads;            /* CPU threads; <= 0: all */
  const char* isa;        /* CPU ISA ceiling: NULL or "auto", "generic", "avx2", "avx512", "amx" */
  int64_t context;        /* positions a session may hold; 0: the model's max_context_length */
  int reference_kernels;  /* nonzero: the plain reference kernels (slow; the specification) */
} tl_engine_options;

typedef struct {
  int max_new_tokens;     /* default 512 */
  float temperature;      /* 0: greedy (default) */
  int top_k;              /* 0: all */
  float top_p;            /* 1: all */
  uint64_t seed;
  float repeat_penalty;   /* 1: off */
  int num_beams;          /* > 1: beam search as HF generate(num_beams) (greedy; tokens arrive at the end) */
} tl_generate_options;

typedef struct {
  double image_ms;            /* encoding the images of the last question (0 when cached or given) */
  double prefill_ms;          /* the last question's prefill */
  double decode_ms;           /* its answer */
  int64_t prefill_positions;  /* positions the last prefill computed (the cached prefix excluded) */
  int64_t tokens;             /* tokens in the last answer */
  int64_t context_used;       /* positions the session holds now */
  int64_t context_length;     /* positions it may hold */
  int64_t images_encoded;     /* vision-tower runs of the engine so far */
  tl_finish finish;           /* why the last answer ended */
} tl_timings;

/* Called with each generated token id and the text it completes (UTF-8, possibly empty); return 0 to
 * stop the answer there. A last call with token -1 may bring text held back at the end (an incomplete
 * UTF-8 sequence); its return value is ignored. */
typedef int (*tl_token_callback)(int32_t token, const char* text, void* user);

const char* tl_version(void);
const char* tl_last_error(void);

void tl_engine_options_init(tl_engine_options* options);
tl_status tl_engine_load(const char* checkpoint_dir, const tl_engine_options* options, tl_engine** engine);
void tl_engine_free(tl_engine* engine);

/* system: the template's system prompt; NULL for the original's. */
tl_status tl_session_new(tl_engine* engine, const char* system, tl_session** session);
tl_status tl_session_fork(const tl_session* session, tl_session** copy);
void tl_session_free(tl_session* session);
tl_status tl_session_clear(tl_session* session);  /* forget every turn */
tl_status tl_session_undo(tl_session* session);   /* forget the last turn; TL_ERROR_INPUT when none */

/* An image for the next question: a file or http(s) URL; 8-bit RGB pixels (height x width x 3,
 * row-major, preprocessed here as the original does); or projected rows (float [rows, width], from
 * `tinyllava embed` or an earlier session) that skip the vision tower. */
tl_status tl_session_add_image_file(tl_session* session, const char* path_or_url);
tl_status tl_session_add_image_rgb(tl_session* session, const uint8_t* rgb, int width, int height);
tl_status tl_session_add_image_embeddings(tl_session* session, const float* rows, int64_t n_rows, int64_t width);

void tl_generate_options_init(tl_generate_options* options);
/* Asks `question` (with the image added since the last question, if any) and generates the answer,
 * streaming it through `callback` (may be NULL). *answer (if not NULL) receives the whole answer,
 * stripped, to be freed with tl_free_string. */
tl_status tl_session_ask(tl_session* session, const char* question, const tl_generate_options* options,
                         tl_token_callback callback, void* user, char** answer);
/* Stops the answer being generated after its current token (any thread; async-signal-safe). */
void tl_session_stop(tl_session* session);
tl_status tl_session_timings(const tl_session* session, tl_timings* timings);

void tl_free_string(char* s);

#ifdef __cplusplus
}
#endif

#endif /* TINYLLAVA_H */
