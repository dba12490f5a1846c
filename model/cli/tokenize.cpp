// model/cli/tokenize.cpp — `tinyllava tokenize`: the tokenizer from the command line.
//
//   tinyllava tokenize -m MODEL_DIR_OR_tokenizer.model [--bos] [--chat] [--decode] [--pieces]
//
// Reads ALL of standard input, byte for byte (no newline stripping), as one text and prints its ids
// on one line, space-separated. --chat treats the input as the user's question and prints the ids of
// the whole templated prompt (BOS included, -200 for the image). --decode reads space-separated ids
// and prints the text exactly (no newline added; -200 prints as "<image>"). --pieces prints pieces.
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "model/cli/args.h"
#include "model/cli/commands.h"
#include "tensor/error.h"
#include "tokenizer/chat.h"
#include "weights/file.h"

namespace tl::cli {

namespace {

constexpr size_t kMaxInput = 64u << 20;

std::string read_stdin() {
  std::string s;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) {
    s.append(buf, n);
    if (s.size() > kMaxInput) fail_input("stdin: more than %zu bytes of input", kMaxInput);
  }
  if (std::ferror(stdin)) fail_input("stdin: read error");
  return s;
}

std::vector<int> parse_ids(const std::string& text) {
  std::vector<int> ids;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i == text.size()) break;
    size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    std::string tok = text.substr(i, j - i);
    char* end = nullptr;
    long v = std::strtol(tok.c_str(), &end, 10);
    if (*end != '\0' || tok.size() > 11 || v < INT32_MIN || v > INT32_MAX)
      fail_input("stdin: '%s' is not a token id (expected integers separated by spaces)", tok.c_str());
    ids.push_back(static_cast<int>(v));
    i = j;
  }
  return ids;
}

std::string decode_with_image(const Tokenizer& tok, const std::vector<int>& ids) {
  std::string out;
  std::vector<int> run;
  for (int id : ids) {
    if (id != kImageToken) {
      run.push_back(id);
      continue;
    }
    out += tok.decode(run) + kImageMarker;
    run.clear();
  }
  return out + tok.decode(run);
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
  Args args("tokenize", "Encode standard input with a SentencePiece model (or decode ids with --decode).",
            {{"-m", "--model", "PATH", "checkpoint directory (its tokenizer.model) or a tokenizer.model file"},
             {nullptr, "--bos", nullptr, "prepend the BOS id"},
             {nullptr, "--chat", nullptr, "input is the user's question: print the full TinyLLaVA prompt (with -200 for the image)"},
             {nullptr, "--decode", nullptr, "input is ids: print the text"},
             {nullptr, "--pieces", nullptr, "print pieces instead of ids"}});
  if (!args.parse(argc, argv, 2)) return 0;
  std::string path = args.required("--model");
  if (is_directory(path)) path = join_path(path, "tokenizer.model");
  Tokenizer tok = Tokenizer::load(path);
  std::string input = read_stdin();

  if (args.has("--decode")) {
    if (args.has("--chat") || args.has("--pieces") || args.has("--bos"))
      fail_input("tokenize: --decode cannot be combined with --chat, --pieces or --bos");
    std::string text = decode_with_image(tok, parse_ids(input));
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
  }

  std::vector<int> ids;
  std::vector<std::string> pieces;
  if (args.has("--chat")) {
    ids = prompt_ids(tok, chat_prompt(input, /*with_image=*/true));
    for (int id : ids) pieces.push_back(id == kImageToken ? kImageMarker : tok.piece(id));
  } else {
    ids = tok.encode(input, &pieces);
    if (args.has("--bos") && tok.bos_id() >= 0) {
      ids.insert(ids.begin(), tok.bos_id());
      pieces.insert(pieces.begin(), tok.piece(tok.bos_id()));
    }
  }
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += args.has("--pieces") ? pieces[i] : std::to_string(ids[i]);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  return 0;
}

}  // namespace tl::cli
