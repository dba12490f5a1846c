#!/usr/bin/env python3
"""tools/cuda_emu/transform.py — rewrites a kernels/cuda/*.cu file into C++ that the CPU emulator compiles.

    transform.py SRC.cu OUT.cpp [--ptx-helpers name,name,...]

Four rewrites, everything else is left as written (line numbers too: a `#line` directive maps compiler
errors and __LINE__ back to the .cu file):
  1. the inline-PTX helpers named by --ptx-helpers (every definition and declaration, specialisations
     included) are deleted and replaced by `using namespace ::emu::ptx;` (tools/cuda_emu/ptx_emu.h);
  2. `extern __shared__ T name[];`       -> `T* name = ::emu::dynamic_shared<T>();`
  3. `__shared__ T name[a][b];`          -> `auto& name = ::emu::block_shared<T[a][b], id>();`
  4. `kernel<<<grid, block, smem, stream>>>(args);`
                                         -> `::emu::launch("kernel (file.cu:line)", grid, block, smem, stream, [=, emu_args =
                                            std::make_tuple(args)] { std::apply(... kernel(emu_a...) ...); });`
     (the arguments are evaluated once, at the launch, as in CUDA: a graph replays launch-time values)

The source must have the shape these rewrites expect. Anything else stops the transformation with a
message and exit status 1 rather than testing something other than the file: a named helper that is
missing, inline asm left after the helpers are gone, a __shared__ declaration or a launch it cannot
parse, or a file without any launch. The output is rewritten only when its content changes (make then
skips the recompile).
"""
import argparse
import os
import re
import sys


class ShapeError(Exception):
    """The .cu file does not have the shape the transformation expects."""


def blank_comments_and_strings(src):
    """A copy of src of the same length with comments and the contents of string and character literals
    replaced by spaces (newlines kept), so structural searches only see code."""
    out = list(src)
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            while i < n and src[i] != "\n":
                out[i] = " "
                i += 1
        elif src.startswith("/*", i):
            end = src.find("*/", i + 2)
            end = n if end < 0 else end + 2
            for j in range(i, end):
                if src[j] != "\n":
                    out[j] = " "
            i = end
        elif c in "\"'":
            if c == "'" and i > 0 and (src[i - 1].isalnum()):  # digit separator such as 1'000
                i += 1
                continue
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            for k in range(i + 1, min(j, n)):
                if src[k] != "\n":
                    out[k] = " "
            i = j + 1
        else:
            i += 1
    return "".join(out)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def matching(code, pos, open_ch, close_ch):
    """Index of the bracket closing the one at code[pos]."""
    depth = 0
    for j in range(pos, len(code)):
        if code[j] == open_ch:
            depth += 1
        elif code[j] == close_ch:
            depth -= 1
            if depth == 0:
                return j
    raise ShapeError(f"line {line_of(code, pos)}: unbalanced '{open_ch}'")


def apply_edits(src, edits):
    """edits: (start, end, replacement) on disjoint spans."""
    for start, end, text in sorted(edits, reverse=True):
        src = src[:start] + text + src[end:]
    return src


def newlines_of(text):
    return "\n" * text.count("\n")


# ---- 1. inline-PTX helpers ------------------------------------------------------------------------------


def replace_ptx_helpers(src, names):
    code = blank_comments_and_strings(src)
    edits = []
    for name in names:
        header = re.compile(
            r"^[ \t]*(?:template\s*<[^;{}]*?>\s*)?__device__\s+__forceinline__\s+[\w:]+\s+"
            + re.escape(name) + r"\s*(?:<[^;{}()]*>)?\s*\(", re.M)
        found = 0
        for m in header.finditer(code):
            close = matching(code, m.end() - 1, "(", ")")
            k = close + 1
            while code[k].isspace():
                k += 1
            if code[k] == ";":
                end = k + 1
            elif code[k] == "{":
                end = matching(code, k, "{", "}") + 1
            else:
                raise ShapeError(f"line {line_of(src, m.start())}: cannot find the end of PTX helper '{name}'")
            edits.append((m.start(), end, None))
            found += 1
        if found == 0:
            raise ShapeError(f"PTX helper '{name}' not found (was it renamed or removed? update ptx_emu.h and "
                             "the --ptx-helpers list in run.sh)")
    if not edits:
        return src
    edits.sort()
    first = edits[0][0]
    final = []
    for start, end, _ in edits:
        keep = newlines_of(src[start:end])  # keep the line count, so #line stays true
        text = ("using namespace ::emu::ptx;  // the PTX helpers, emulated (tools/cuda_emu/ptx_emu.h)" + keep
                if start == first else keep)
        final.append((start, end, text))
    return apply_edits(src, final)


def check_no_asm(src):
    code = blank_comments_and_strings(src)
    m = re.search(r"\basm\b|\b__asm__\b", code)
    if m:
        raise ShapeError(f"line {line_of(src, m.start())}: inline asm outside the known PTX helpers "
                         "(add an emulation to ptx_emu.h and the helper's name to --ptx-helpers in run.sh)")


# ---- 2, 3. shared memory --------------------------------------------------------------------------------

ALIGN = r"(?:__align__\(\s*\d+\s*\)\s+)?"
TYPE = r"(?P<type>[A-Za-z_][\w:]*(?:\s*<[^;{}]*?>)?)"


def replace_shared(src):
    code = blank_comments_and_strings(src)
    edits = []
    dynamic = re.compile(r"\bextern\s+__shared__\s+" + ALIGN + TYPE + r"\s+(?P<name>\w+)\s*\[\s*\]\s*;")
    for m in dynamic.finditer(code):
        edits.append((m.start(), m.end(), f"{m['type']}* {m['name']} = ::emu::dynamic_shared<{m['type']}>();"))
    static = re.compile(r"\b__shared__\s+" + ALIGN + TYPE + r"\s+(?P<name>\w+)\s*(?P<dims>(?:\[[^\[\];]+\]\s*)*);")
    dynamic_spans = [(s, e) for s, e, _ in edits]
    for i, m in enumerate(static.finditer(code)):
        if any(s <= m.start() < e for s, e in dynamic_spans):  # the `__shared__` of an extern declaration
            continue
        dims = src[m.start("dims"):m.end("dims")].strip()
        edits.append((m.start(), m.end(), f"auto& {m['name']} = ::emu::block_shared<{m['type']}{dims}, {i}>();"))
    src = apply_edits(src, edits)
    m = re.search(r"\b__shared__\b", blank_comments_and_strings(src))
    if m:
        raise ShapeError(f"line {line_of(src, m.start())}: a __shared__ declaration this script cannot parse "
                         "(expected `[extern] __shared__ [__align__(n)] TYPE name[dims];`)")
    return src


# ---- 4. launches ----------------------------------------------------------------------------------------


def split_top_level(text):
    """Splits at commas outside (), [], {} and <>; fails when the brackets do not balance."""
    parts, depth, cur = [], 0, ""
    for c in text:
        if c in "([{<":
            depth += 1
        elif c in ")]}>":
            depth -= 1
        if c == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += c
    if depth != 0:
        raise ShapeError(f"cannot split the launch configuration '{text.strip()}'")
    parts.append(cur.strip())
    return parts


def kernel_start(code, pos):
    """Start of the kernel expression (name::with<template, args>) that ends at code[pos]."""
    k, depth = pos, 0
    while k > 0:
        c = code[k - 1]
        if c == ">":
            depth += 1
        elif c == "<":
            depth -= 1
        elif depth == 0 and not (c.isalnum() or c in "_:"):
            break
        k -= 1
    return k


def replace_launches(src, where):
    code = blank_comments_and_strings(src)
    edits = []
    for m in re.finditer(r"<<<", code):
        start = kernel_start(code, m.start())
        kernel = src[start:m.start()].strip()
        if not re.fullmatch(r"[A-Za-z_][\w:]*(?:<.*>)?", kernel, re.S):
            raise ShapeError(f"line {line_of(src, m.start())}: cannot read the kernel name before <<<")
        cfg_end = code.find(">>>", m.end())
        if cfg_end < 0:
            raise ShapeError(f"line {line_of(src, m.start())}: <<< without >>>")
        k = cfg_end + 3
        while code[k].isspace():
            k += 1
        if code[k] != "(":
            raise ShapeError(f"line {line_of(src, m.start())}: expected '(' after >>>")
        args_end = matching(code, k, "(", ")")
        cfg = split_top_level(src[m.end():cfg_end])
        if not 2 <= len(cfg) <= 4:
            raise ShapeError(f"line {line_of(src, m.start())}: a launch needs 2 to 4 configuration values")
        cfg += ["0", "nullptr"][len(cfg) - 2:]
        args = src[k + 1:args_end]
        # The kernel's name and the launch's line, for messages (launch_1d-style helpers call a parameter).
        name = re.sub(r"\s+", " ", kernel) + f" ({where}:{line_of(src, m.start())})"
        # The arguments are evaluated once, where the launch is (as CUDA does: a captured graph keeps the
        # values of launch time), and the kernel is called with copies of them on every thread.
        call = (f"[=, emu_args = ::std::make_tuple({args})] {{ ::std::apply([&](const auto&... emu_a) "
                f"{{ {kernel}(emu_a...); }}, emu_args); }}")
        edits.append((start, args_end + 1,
                      f'::emu::launch("{name}", {cfg[0]}, {cfg[1]}, {cfg[2]}, {cfg[3]}, {call})'))
    if not edits:
        raise ShapeError("no kernel launch (<<<...>>>) found")
    src = apply_edits(src, edits)
    code = blank_comments_and_strings(src)
    for token in ("<<<", ">>>"):
        if token in code:
            raise ShapeError(f"line {line_of(src, code.find(token))}: a launch this script cannot parse")
    return src, len(edits)


# ---- driver ---------------------------------------------------------------------------------------------


def transform(src, path, ptx_helpers):
    src = replace_ptx_helpers(src, ptx_helpers)
    check_no_asm(src)
    src = replace_shared(src)
    src, launches = replace_launches(src, os.path.basename(path))
    head = (f"// GENERATED by tools/cuda_emu/transform.py from {path}; do not edit.\n"
            + "#include <tuple>\n"
            + ('#include "ptx_emu.h"\n' if ptx_helpers else "")
            + f'#line 1 "{path}"\n')
    return head + src, launches


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--ptx-helpers", default="", help="comma-separated names of the inline-PTX helpers to replace")
    args = ap.parse_args()
    helpers = [h for h in args.ptx_helpers.split(",") if h]
    try:
        with open(args.src, encoding="utf-8") as f:
            src = f.read()
        out, launches = transform(src, args.src, helpers)
    except ShapeError as e:
        print(f"transform.py: {args.src}: {e}", file=sys.stderr)
        print("transform.py: the kernel file no longer has the shape the emulator expects; "
              "update tools/cuda_emu (nothing was tested)", file=sys.stderr)
        return 1
    old = None
    if os.path.exists(args.out):
        with open(args.out, encoding="utf-8") as f:
            old = f.read()
    if old != out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(out)
    print(f"transform.py: {args.src}: {launches} launches, {len(helpers)} PTX helpers replaced")
    return 0


if __name__ == "__main__":
    sys.exit(main())
