// model/cli/commands.h — the tinyllava subcommands. Each parses its own options (args.h), does its
// work through the library, prints results to stdout, and returns the exit code; errors are thrown as
// tl::Error and turned into one line on stderr by main().
#pragma once

namespace tl::cli {

int cmd_info(int argc, char** argv);      // tinyllava info -m DIR
int cmd_synth(int argc, char** argv);     // tinyllava synth -o DIR [--config ...] [--dtype ...]
int cmd_quantize(int argc, char** argv);  // tinyllava quantize -m SRC -o DST --type q8|q4
int cmd_compare(int argc, char** argv);   // tinyllava compare -m A --vs B [-i IMAGE] [-n N]
int cmd_tokenize(int argc, char** argv);  // tinyllava tokenize -m MODEL [--bos] [--chat] [--decode] [--pieces]
int cmd_run(int argc, char** argv);       // tinyllava run -m DIR [-i IMAGE] -p PROMPT ...
int cmd_dump(int argc, char** argv);
int cmd_embed(int argc, char** argv);     // tinyllava embed -m DIR -i IMAGE -o FILE.npy
int cmd_chat(int argc, char** argv);      // tinyllava chat -m DIR [-i IMAGE] ...      // tinyllava dump -m DIR [-i IMAGE] -p PROMPT -o OUTDIR ...
int cmd_bench(int argc, char** argv);     // tinyllava bench -m DIR [--precision ...] [--repeat N] [--json]
int cmd_roofline(int argc, char** argv);
int cmd_serve(int argc, char** argv);     // tinyllava serve -m DIR [--port N] [--parallel N] ... (with cpp-httplib)  // tinyllava roofline [-m DIR] [-o FILE.svg] [-t N] [--precision ...]

}  // namespace tl::cli
