// model/cli/main.cpp — the tinyllava command-line tool: dispatch to a subcommand and turn errors
// into one line and an exit code. This is the only place that decides to exit.
//
//   exit 0  success
//   exit 1  internal failure (a broken invariant, out of memory, a failing device)
//   exit 2  bad input (a file, field or argument the user gave)
#include <cstdio>
#include <cstring>
#include <new>

#include "model/cli/commands.h"
#include "tensor/error.h"

namespace {

const char kUsage[] =
    "usage: tinyllava <command> [options]\n"
    "\n"
    "TinyLLaVA-OpenELM-450M-SigLIP-0.89B inference engine.\n"
    "\n"
    "commands:\n"
    "  run    -m DIR [-i IMAGE] -p PROMPT   answer a prompt about an image, streaming the answer\n"
    "  chat   -m DIR [-i IMAGE]             a conversation: questions from the terminal or a pipe\n"
    "  embed  -m DIR -i IMAGE -o F.npy      encode an image once (for run/chat --image-embeds)\n"
    "  dump   -m DIR [-i IMAGE] -p PROMPT -o DIR   write every stage of the exact pipeline as .npy\n"
    "  bench  -m DIR        time one image question end to end (add --json for one JSON line)\n"
    "  roofline [-m DIR]    time every kernel at the model's shapes; draw them on this CPU's roofline (SVG)\n"
    "  serve  -m DIR        an OpenAI-compatible HTTP server (chat, completions, images, streaming)\n"
    "  info   -m DIR        validate a checkpoint and describe it\n"
    "  synth  -o DIR        write a random-weight checkpoint in the Hugging Face layout\n"
    "  quantize -m SRC -o DST --type q8|q4   rewrite a checkpoint with 8- or 4-bit Linear weights\n"
    "  compare -m A --vs B  KL divergence, top-1 and greedy agreement of B against A on one question\n"
    "  tokenize -m MODEL    encode standard input (or decode ids) with the SentencePiece tokenizer\n"
    "\n"
    "'tinyllava <command> --help' lists a command's options; 'tinyllava --version' prints the version.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char* cmd = argv[1];
  if (!std::strcmp(cmd, "--version") || !std::strcmp(cmd, "version")) {
    std::printf("tinyllava %s\n", TINYLLAVA_VERSION);
    return 0;
  }
  try {
    if (!std::strcmp(cmd, "info")) return tl::cli::cmd_info(argc, argv);
    if (!std::strcmp(cmd, "synth")) return tl::cli::cmd_synth(argc, argv);
    if (!std::strcmp(cmd, "quantize")) return tl::cli::cmd_quantize(argc, argv);
    if (!std::strcmp(cmd, "compare")) return tl::cli::cmd_compare(argc, argv);
    if (!std::strcmp(cmd, "tokenize")) return tl::cli::cmd_tokenize(argc, argv);
    if (!std::strcmp(cmd, "run")) return tl::cli::cmd_run(argc, argv);
    if (!std::strcmp(cmd, "dump")) return tl::cli::cmd_dump(argc, argv);
    if (!std::strcmp(cmd, "chat")) return tl::cli::cmd_chat(argc, argv);
    if (!std::strcmp(cmd, "embed")) return tl::cli::cmd_embed(argc, argv);
    if (!std::strcmp(cmd, "bench")) return tl::cli::cmd_bench(argc, argv);
    if (!std::strcmp(cmd, "roofline")) return tl::cli::cmd_roofline(argc, argv);
    if (!std::strcmp(cmd, "serve")) {
#ifdef TINYLLAVA_HAS_SERVER
      return tl::cli::cmd_serve(argc, argv);
#else
      tl::fail_input("serve: this build has no HTTP server (cpp-httplib was not found at configure time; "
                     "Debian: libcpp-httplib-dev, or 'make deps', then rebuild)");
#endif
    }
    std::fprintf(stderr, "tinyllava: error: unknown command '%s' (expected run, chat, serve, embed, dump, bench, roofline, info, synth, quantize, compare or tokenize)\n", cmd);
    return 2;
  } catch (const tl::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "tinyllava: error: %s\n", e.what());
    return e.kind() == tl::ErrorKind::BadInput ? 2 : 1;
  } catch (const std::bad_alloc&) {
    std::fflush(stdout);
    std::fprintf(stderr, "tinyllava: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "tinyllava: error: internal: %s\n", e.what());
    return 1;
  }
}
