// tests/cli/test_chat_cli.cpp — the commands a conversation uses, as a person would use them: chat
// through a pipe and through a pseudo-terminal (script(1)), embed then --image-embeds (tokens equal
// to -i), run --json and -f, and the engine options' errors.
#include <gtest/gtest.h>

#include <string>

#include "test_util.h"
#include "weights/json.h"

using tl::test::RunResult;
using tl::test::ScratchDir;
using tl::test::run_tinyllava;
using tl::test::write_file;

namespace {

const std::string kTiny = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/models/tiny";

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1)) ++n;
  return n;
}

}  // namespace

TEST(ChatCli, ConversationThroughAPipe) {
  ScratchDir dir;
  write_file(dir / "in.txt", "What are these?\nAnd the colours?\n/undo\nAnd the colours?\n/bogus\n/clear\nHello\n");
  RunResult r = run_tinyllava("chat -m '" + kTiny + "' -i '" + kTiny + "/image.png' -n 6 -t 2 < '" + dir / "in.txt" + "'",
                              dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(r.out, "\n"), 4u) << "one answer line per question:\n" << r.out;
  EXPECT_EQ(count(r.err, "[image "), 4u) << r.err;  // a timing line per turn
  EXPECT_NE(r.err.find("(last turn removed)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown command /bogus"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(conversation cleared)"), std::string::npos) << r.err;
  // The answer after /undo repeats the answer before it (same conversation, greedy).
  const size_t l1 = r.out.find('\n'), l2 = r.out.find('\n', l1 + 1), l3 = r.out.find('\n', l2 + 1);
  EXPECT_EQ(r.out.substr(l1 + 1, l2 - l1), r.out.substr(l2 + 1, l3 - l2)) << r.out;
  // The second question prefilled only its turn, the first the image and its prompt.
  EXPECT_NE(r.err.find("context "), std::string::npos);
}

TEST(ChatCli, ConversationThroughATerminal) {
  ScratchDir dir;
  write_file(dir / "in.txt", "What are these?\n/quit\n");
  // script(1) gives the command a pseudo-terminal on stdin, stdout and stderr.
  const std::string cmd = std::string("script -qec \"'") + TINYLLAVA_BIN + "' chat -m '" + kTiny + "' -n 4 -t 2\" /dev/null < '" +
                          dir / "in.txt" + "' > '" + dir / "tty.txt" + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const std::string tty = tl::test::slurp(dir / "tty.txt");
  EXPECT_NE(tty.find("tinyllava chat:"), std::string::npos) << tty;  // the greeting on a terminal
  EXPECT_NE(tty.find("> "), std::string::npos) << tty;               // the prompt
  EXPECT_NE(tty.find("[image "), std::string::npos) << tty;
}

TEST(ChatCli, EmbedThenImageEmbedsGivesTheSameTokens) {
  ScratchDir dir;
  const std::string m = "-m '" + kTiny + "' ";
  RunResult e = run_tinyllava("embed " + m + "-i '" + kTiny + "/image.png' -o '" + dir / "img.npy" + "'", dir.path());
  ASSERT_EQ(e.exit_code, 0) << e.err;
  RunResult a = run_tinyllava("run " + m + "-i '" + kTiny + "/image.png' -p 'What are these?' -n 12 --json", dir.path());
  RunResult b = run_tinyllava("run " + m + "--image-embeds '" + dir / "img.npy" + "' -p 'What are these?' -n 12 --json",
                              dir.path());
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const tl::json::Value ja = tl::json::parse(a.out, "a"), jb = tl::json::parse(b.out, "b");
  ASSERT_EQ(ja.find("tokens")->items().size(), 12u);
  for (size_t i = 0; i < 12; ++i)
    EXPECT_EQ(ja.find("tokens")->items()[i].as_int(), jb.find("tokens")->items()[i].as_int()) << i;
  EXPECT_EQ(ja.find("text")->as_string(), jb.find("text")->as_string());
  EXPECT_EQ(ja.find("finish_reason")->as_string(), "length");
  // Rows of the wrong shape name the file and the expected shape.
  RunResult bad = run_tinyllava("run " + m + "--image-embeds '" + kTiny + "/expected/logits.npy' -p x", dir.path());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("logits.npy: image embeddings"), std::string::npos) << bad.err;
}

TEST(ChatCli, RunReadsThePromptFromAFileOrStdin) {
  ScratchDir dir;
  write_file(dir / "q.txt", "What are these?");
  const std::string m = "run -m '" + kTiny + "' -i '" + kTiny + "/image.png' -n 6 --json ";
  RunResult p = run_tinyllava(m + "-p 'What are these?'", dir.path());
  RunResult f = run_tinyllava(m + "-f '" + dir / "q.txt" + "'", dir.path());
  RunResult s = run_tinyllava(m + "-f - < '" + dir / "q.txt" + "'", dir.path());
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(p.out, f.out.substr(0, f.out.find("\"timings_ms\"")) + p.out.substr(p.out.find("\"timings_ms\"")));
  EXPECT_EQ(tl::json::parse(f.out, "f").find("tokens")->items().size(), 6u);
  EXPECT_EQ(tl::json::parse(s.out, "s").find("text")->as_string(), tl::json::parse(p.out, "p").find("text")->as_string());
  // -n 0: prefill only, nothing printed.
  RunResult z = run_tinyllava("run -m '" + kTiny + "' -p hi -n 0", dir.path());
  EXPECT_EQ(z.exit_code, 0) << z.err;
  EXPECT_EQ(z.out, "");
}

TEST(ChatCli, EngineOptionErrorsAndVersion) {
  ScratchDir dir;
  const std::string run = "run -m '" + kTiny + "' -p x ";
  RunResult isa = run_tinyllava(run + "--isa sse9", dir.path());
  EXPECT_EQ(isa.exit_code, 2);
  EXPECT_NE(isa.err.find("isa: unknown instruction set 'sse9'"), std::string::npos) << isa.err;
  RunResult ctx = run_tinyllava(run + "-c 99999", dir.path());
  EXPECT_EQ(ctx.exit_code, 2);
  EXPECT_NE(ctx.err.find("--ctx: 99999 positions"), std::string::npos) << ctx.err;
  RunResult generic = run_tinyllava(run + "-n 2 --isa generic -t 1", dir.path());
  EXPECT_EQ(generic.exit_code, 0) << generic.err;
  EXPECT_NE(generic.err.find("1 threads, generic, f32"), std::string::npos) << generic.err;
  RunResult sys = run_tinyllava(run + "--raw --system hi", dir.path());
  EXPECT_EQ(sys.exit_code, 2);
  RunResult v = run_tinyllava("--version", dir.path());
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("tinyllava ", 0), 0u) << v.out;
}

// WebP and TIFF end to end, where the build has their decoders: the same prompt about the same picture
// as a PNG gives the same answer (the sweep's lossless WebP and LZW TIFF hold the PNG's exact pixels).
TEST(ChatCli, WebpAndTiffImagesEndToEnd) {
  ScratchDir dir;
  const std::string sweep = std::string(TINYLLAVA_SOURCE_DIR) + "/tests/fixtures/images/sweep/";
  const std::string run = "run -m '" + kTiny + "' -p 'What are these?' -n 6 -i '" + sweep;
  RunResult png = run_tinyllava(run + "png_rgba.png'", dir.path());
  ASSERT_EQ(png.exit_code, 0) << png.err;
  for (const char* f : {"webp_lossless_alpha.webp", "tiff_rgba.tif"}) {
    RunResult r = run_tinyllava(run + f + "'", dir.path());
    if (r.exit_code == 2 && r.err.find("this build has no") != std::string::npos) continue;  // no library
    ASSERT_EQ(r.exit_code, 0) << f << ": " << r.err;
    EXPECT_EQ(r.out, png.out) << f;
  }
}

// Beam search in chat answers the first question as run does, and goes on with the conversation.
TEST(ChatCli, BeamSearchInRunAndChat) {
  ScratchDir dir;
  write_file(dir / "in.txt", "What are these?\nAnd the colours?\n");
  const std::string m = "-m '" + kTiny + "' -i '" + kTiny + "/image.png' -n 8 --beams 3 ";
  RunResult run = run_tinyllava("run " + m + "-p 'What are these?'", dir.path());
  RunResult chat = run_tinyllava("chat " + m + "< '" + dir / "in.txt" + "'", dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_EQ(chat.out.substr(0, chat.out.find('\n') + 1), run.out);
  EXPECT_EQ(count(chat.out, "\n"), 2u) << chat.out;
  RunResult bad = run_tinyllava("run " + m + "-p x --temp 0.5", dir.path());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--beams: beam search here is deterministic"), std::string::npos) << bad.err;
}
