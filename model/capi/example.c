/* model/capi/example.c — answer a question about an image with the C API (tinyllava.h).
 *
 *   cc example.c $(pkg-config --cflags --libs tinyllava) -o example
 *   ./example CHECKPOINT_DIR IMAGE "What are these?" ["And the colours?"]
 *
 * The answer streams to stdout; a second question continues the same conversation (the image is
 * encoded once, and only the new turn is prefilled). */
#include <stdio.h>

#include "tinyllava.h"

static int print_piece(int32_t token, const char* text, void* user) {
  (void)token;
  (void)user;
  fputs(text, stdout);
  fflush(stdout);
  return 1; /* go on */
}

static int fail(const char* what) {
  fprintf(stderr, "example: %s: %s\n", what, tl_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s CHECKPOINT_DIR IMAGE QUESTION [FOLLOW-UP...]\n", argv[0]);
    return 2;
  }
  tl_engine_options eo;
  tl_engine_options_init(&eo);
  tl_engine* engine = NULL;
  if (tl_engine_load(argv[1], &eo, &engine) != TL_OK) return fail("load");
  tl_session* chat = NULL;
  if (tl_session_new(engine, NULL, &chat) != TL_OK) return fail("session");
  if (tl_session_add_image_file(chat, argv[2]) != TL_OK) return fail("image");
  tl_generate_options go;
  tl_generate_options_init(&go);
  go.max_new_tokens = 32;
  for (int i = 3; i < argc; ++i) {
    if (tl_session_ask(chat, argv[i], &go, print_piece, NULL, NULL) != TL_OK) return fail("ask");
    tl_timings t;
    tl_session_timings(chat, &t);
    printf("\n[prefill %lld positions, %lld tokens, %.1f ms decode, %lld images encoded]\n",
           (long long)t.prefill_positions, (long long)t.tokens, t.decode_ms, (long long)t.images_encoded);
  }
  tl_session_free(chat);
  tl_engine_free(engine);
  return 0;
}
