// model/cli/chat.cpp — `tinyllava chat`: a multi-turn conversation on a terminal or through a pipe.
//
//   tinyllava chat -m DIR [-i IMAGE | --image-embeds F.npy] [--system TEXT] [-n 512] [sampling] [engine]
//
// Each input line is a question (answered with the whole conversation as context; the KV cache keeps
// what earlier turns computed, so a turn prefills only its own text). Commands:
//   /image PATH   attach an image (file or URL) to the next question
//   /undo         forget the last question and its answer
//   /clear        forget the whole conversation
//   /quit         leave (so does end of input)
// Answers stream to stdout, one line each; each turn's timings go to stderr. Ctrl-C stops the answer
// being written (the conversation keeps what was said), not the program. A question that does not fit
// the context is refused with a note to /clear.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>

#include "model/cli/args.h"
#include "model/cli/commands.h"
#include "model/cli/options.h"
#include "model/cli/pipeline.h"
#include "model/session.h"
#include "tensor/error.h"

namespace tl::cli {

namespace {

using Clock = std::chrono::steady_clock;

// One line of standard input without its newline; false at end of input.
bool read_line(std::string* line, bool prompt) {
  line->clear();
  if (prompt) std::fputs("> ", stderr);
  for (;;) {
    const int c = std::fgetc(stdin);
    if (c == EOF) {
      if (std::ferror(stdin) && errno == EINTR) {  // Ctrl-C at the prompt: a fresh prompt
        std::clearerr(stdin);
        line->clear();
        if (prompt) std::fputs("\n> ", stderr);
        continue;
      }
      return !line->empty();
    }
    if (c == '\n') return true;
    *line += static_cast<char>(c);
  }
}

struct ChatState {
  Engine* engine;
  Session session;
  GenerateParams params;
  ImagePtr pending;  // attached to the next question
};

void print_turn_stats(const ChatState& s, const Generation& g, int64_t prefilled, double image_s) {
  const size_t n = g.tokens.size();
  std::fprintf(stderr, "[image %.2f s | prefill %lld positions in %.2f s | decode %zu tok (%.1f tok/s) | %s | context %lld/%lld]\n",
               image_s, static_cast<long long>(prefilled), s.session.last_prefill_s(), n,
               n > 1 && g.decode_s > 0 ? (n - 1) / g.decode_s : 0.0, finish_reason_name(g.finish),
               static_cast<long long>(s.session.length()), static_cast<long long>(s.session.context_length()));
}

void ask(ChatState& s, const std::string& question) {
  ImagePtr image = std::move(s.pending);
  s.pending = nullptr;
  const double image_s = image ? image->vision_s + image->projector_s : 0.0;
  const int64_t before = s.session.prefilled_positions();
  StreamDecoder decoder(s.engine->tokenizer(), /*skip_special=*/true);
  StrippedWriter out(stdout);
  clear_interrupt();
  Generation g;
  try {
    g = s.session.ask(question, image, s.params, [&](int id) {
      out.write(decoder.push(id));
      return !interrupted();
    });
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::BadInput) throw;
    std::fprintf(stderr, "tinyllava: %s\n", e.what());
    if (std::string(e.what()).find("context") != std::string::npos)
      std::fputs("the conversation is full: /clear starts a new one (or /undo drops the last turn)\n", stderr);
    s.pending = image;  // the image stays attached for the next try
    return;
  }
  out.write(decoder.finish());
  std::fputc('\n', stdout);
  std::fflush(stdout);
  print_turn_stats(s, g, s.session.prefilled_positions() - before, image_s);
  if (g.finish == FinishReason::Context)
    std::fputs("the context is full: /clear starts a new conversation\n", stderr);
}

// A /command; false for /quit.
bool command(ChatState& s, const std::string& line) {
  const size_t space = line.find(' ');
  const std::string name = line.substr(0, space), arg = space == std::string::npos ? "" : line.substr(space + 1);
  if (name == "/quit" || name == "/exit") return false;
  if (name == "/clear") {
    s.session.clear();
    std::fputs("(conversation cleared)\n", stderr);
  } else if (name == "/undo") {
    std::fputs(s.session.undo() ? "(last turn removed)\n" : "(nothing to undo)\n", stderr);
  } else if (name == "/image") {
    if (arg.empty()) {
      std::fputs("usage: /image PATH\n", stderr);
      return true;
    }
    try {
      OwnedTensor pixels = load_pixels_from(arg, s.engine->config());
      s.pending = s.engine->encode_image(pixels.tensor);
      std::fprintf(stderr, "(image attached to the next question: %.2f s)\n", s.pending->vision_s + s.pending->projector_s);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::BadInput) throw;
      std::fprintf(stderr, "tinyllava: %s\n", e.what());
    }
  } else if (name == "/help") {
    std::fputs("/image PATH  attach an image to the next question\n/undo  drop the last turn\n/clear  start over\n"
               "/quit  leave\n", stderr);
  } else {
    std::fprintf(stderr, "unknown command %s (/help lists them)\n", name.c_str());
  }
  return true;
}

}  // namespace

int cmd_chat(int argc, char** argv) {
  std::vector<Option> o = {
      {"-m", "--model", "DIR", "checkpoint directory"},
      {nullptr, "--system", "TEXT", "the template's system prompt (default: the original's)"},
      {"-n", "--max-new-tokens", "N", "tokens per answer at most (default 512)"},
      {nullptr, "--no-cuda-graph", nullptr, "with --device cuda: launch each decode kernel instead of replaying a graph"},
      {nullptr, "--beams", "N", "beam search with N beams (HF generate(num_beams=N)); each answer shows when it ends"},
  };
  for (const auto& list : {image_option_list(), sampling_option_list(), engine_option_list(true)})
    o.insert(o.end(), list.begin(), list.end());
  Args args("chat", "A conversation about images: questions from the terminal or a pipe, answers streamed. "
                    "Commands: /image PATH, /undo, /clear, /quit.", o);
  if (!args.parse(argc, argv, 2)) return 0;
  EngineOptions options = engine_options(args, "chat");
  options.cuda_graphs = !args.has("--no-cuda-graph");
  GenerateParams params;
  params.max_new_tokens = static_cast<int>(args.integer("--max-new-tokens", 512, 1, 1 << 20));
  params.sampling = sampling_options(args);
  params.repeat_penalty = repeat_penalty_option(args);
  params.num_beams = static_cast<int>(args.integer("--beams", 1, 1, 64));
  Engine engine(args.required("--model"), options);
  OwnedTensor pixels;
  ImagePtr first = image_option(args, engine, &pixels);
  ChatState s{&engine, Session(engine, args.str("--system", kSystemPrompt)), params, first};
  const bool terminal = ::isatty(0);
  if (terminal) std::fprintf(stderr, "tinyllava chat: %s. /help lists the commands; Ctrl-C stops an answer.\n", engine_summary(engine).c_str());
  install_interrupt();
  std::string line;
  while (read_line(&line, terminal)) {
    if (line.empty()) continue;
    if (line[0] == '/') {
      if (!command(s, line)) break;
      continue;
    }
    ask(s, line);
  }
  return 0;
}

}  // namespace tl::cli
