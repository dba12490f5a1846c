#!/usr/bin/env python3
"""Make tests/fixtures/chat/multiturn.json: exact prompt strings and ids of multi-turn conversations.

The rules are those of the original TinyLLaVA code, re-stated here in this script's own words (sources read:
the HF `modeling_tinyllava_elm.py` of jiajunlong/TinyLLaVA-OpenELM-450M-SigLIP-0.89B through its verbatim copy
in GitHub alisalamatian1/ChartGaze, models/TinyLLaVA/my_modeling/TinyLLaVA-OpenELM-450M-SigLIP-0.89B_wAttn/:
`Conversation.get_prompt`, `conv_phi_v0`, `tokenizer_image_token`, `chat`, `prepare_inputs_labels_for_multimodal`;
the `tokenizer_config.json` beside it; TinyLLaVA_Factory `tinyllava/data/template/base.py`, `serve/cli.py` for
comparison; ../shared/MODEL_SPEC.md §5, §7.3, §9):

  template (conv_phi_v0, separator style TWO; sep " ", sep2 "<|endoftext|>")
    system + " "
    then per message, user and assistant alternating:
      a non-empty message:  ROLE + ": " + message + (" " after a user message, "<|endoftext|>" after an assistant one)
      a missing or empty message (None or ""):  ROLE + ":"   (no separator at all)
    The open assistant turn at the end is therefore "ASSISTANT:" with nothing after it.
  image       a user turn with an image is "<image>\n" + text (text verbatim, not stripped); chat() does this for
              its one turn, the Factory CLI for the first turn only. Text-only turns carry no "<image>\n" (this
              engine's rule for text-only prompts, tokenizer/chat.h). Several images: one marker per turn that
              has one; the splice consumes the images in marker order.
  ids         tokenizer_image_token: split the prompt on the literal "<image>", tokenize every chunk on its own
              with the slow tokenizer (each chunk gets a BOS and a dummy-prefix space), keep the BOS once at the
              front, drop it from every chunk, and put -200 between consecutive chunks.
  tokenizer   transformers' slow LlamaTokenizer on the Llama-2 tokenizer.model, with the settings of the
              checkpoint's tokenizer_config.json: legacy=False, add_prefix_space=True, add_bos_token=True,
              add_eos_token=False, pad "<unk>". Like the original, "<s>", "</s>", "<unk>" typed inside a message
              become the control ids 1, 2, 0; "<|endoftext|>" is not a token of this vocabulary and becomes text.

legacy=False needs the protobuf package to rewrite the model (add_dummy_prefix off). When protobuf is missing the
same one-field rewrite is done on the serialized model here (NormalizerSpec.add_dummy_prefix = false); both ways
give the same tokenizer.

Output: a JSON list of cases {"name", "system", "turns": [{"user", "image", "assistant"}], "prompt", "ids"}
(-200 = image; the last turn's assistant is null), "note" on the cases that show a quirk, and for cases with several
turns "ids_per_turn_prefix": for k = 1..len(turns) the ids of the template over turns[0..k) with turn k-1's answer
set to null, i.e. the prompt the model sees when it is asked turn k.

Run from the repository root:
  python3 tools/make_chat_fixtures.py [--tokenizer ../shared/tokenizer/llama2-tokenizer.model] [-o OUT.json]
"""
import argparse
import json
import os
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DEFAULT_TOKENIZER = os.path.normpath(os.path.join(ROOT, "..", "shared", "tokenizer", "llama2-tokenizer.model"))
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "chat", "multiturn.json")

IMAGE_ID = -200
IMAGE_MARKER = "<image>"
SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")
USER, ASSISTANT = "USER", "ASSISTANT"
SEP_AFTER_USER, SEP_AFTER_ASSISTANT = " ", "<|endoftext|>"

# MODEL_SPEC.md §9: the README prompt "What are these?" with an image.
SPEC_ONE_TURN_IDS = [
    1, 319, 13563, 1546, 263, 12758, 1404, 322, 385, 23116, 21082, 20255, 29889, 450, 20255, 4076, 8444,
    29892, 13173, 29892, 322, 1248, 568, 6089, 304, 278, 1404, 29915, 29879, 5155, 29889, 3148, 1001, 29901,
    29871, -200, 29871, 13, 5618, 526, 1438, 29973, 319, 1799, 9047, 13566, 29901]


# ---- template ----------------------------------------------------------------------------------------

def render(system, turns):
    """The conversation string: turns = [{"user", "image", "assistant"}]."""
    out = system + SEP_AFTER_USER
    for turn in turns:
        user = (IMAGE_MARKER + "\n" if turn["image"] else "") + turn["user"]
        for role, text, sep in ((USER, user, SEP_AFTER_USER), (ASSISTANT, turn["assistant"], SEP_AFTER_ASSISTANT)):
            # An empty message counts as missing: the role and a colon, no separator.
            out += role + ": " + text + sep if text else role + ":"
    return out


def image_token_ids(prompt, tokenizer):
    chunks = [tokenizer(c).input_ids for c in prompt.split(IMAGE_MARKER)]
    bos = tokenizer.bos_token_id
    skip = 1 if chunks[0][:1] == [bos] else 0
    ids = chunks[0][:skip]
    for i, chunk in enumerate(chunks):
        if i:
            ids.append(IMAGE_ID)
        ids.extend(chunk[skip:])
    return ids


# ---- tokenizer ---------------------------------------------------------------------------------------

def _varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def without_dummy_prefix(model_bytes):
    """The serialized ModelProto with normalizer_spec.add_dummy_prefix = false (field 3 inside field 3)."""
    out, i = bytearray(), 0
    while i < len(model_bytes):
        start = i
        key, i = _read_varint(model_bytes, i)
        wire = key & 7
        if wire == 0:
            _, i = _read_varint(model_bytes, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, j = _read_varint(model_bytes, i)
            i = j + n
            if key >> 3 == 3:  # normalizer_spec: append "add_dummy_prefix: false" (the last value wins)
                body = model_bytes[j:i] + bytes([3 << 3, 0])
                out += _varint(key) + _varint(len(body)) + body
                continue
        else:
            raise ValueError("unexpected protobuf wire type %d" % wire)
        out += model_bytes[start:i]
    return bytes(out)


def load_tokenizer(path):
    if not os.path.isfile(path):
        sys.exit("error: tokenizer model not found: %s\n(the Llama-2 tokenizer.model, sha256 9e556afd...d347; "
                 "pass --tokenizer PATH)" % path)
    import sentencepiece as spm
    from transformers import LlamaTokenizer

    class Tokenizer(LlamaTokenizer):
        def get_spm_processor(self, from_slow=False):
            try:
                import google.protobuf  # noqa: F401  transformers' own rewrite
                return super().get_spm_processor(from_slow)
            except ImportError:
                sp = spm.SentencePieceProcessor(**self.sp_model_kwargs)
                with open(self.vocab_file, "rb") as f:
                    sp.LoadFromSerializedProto(without_dummy_prefix(f.read()))
                return sp

    # The checkpoint's tokenizer_config.json (964 B).
    return Tokenizer(vocab_file=path, legacy=False, add_prefix_space=True, add_bos_token=True, add_eos_token=False,
                     bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<unk>",
                     clean_up_tokenization_spaces=False, spaces_between_special_tokens=False,
                     model_max_length=2048, padding_side="right")


# ---- cases -------------------------------------------------------------------------------------------

def T(user, image=False, assistant=None):
    return {"user": user, "image": image, "assistant": assistant}


def cases():
    q_img = "What are these?"
    a1 = "These are two cats lying on a pink blanket, with two remote controls next to them."
    return [
        ("one_turn_image", SYSTEM, [T(q_img, True)]),
        ("one_turn_text", SYSTEM, [T("What is the capital of France?")]),
        ("two_turns_image_first", SYSTEM, [T(q_img, True, a1), T("What color is the blanket?")]),
        ("three_turns_image_first", SYSTEM, [T(q_img, True, a1), T("What color is the blanket?", False, "Pink."),
                                             T("How many remotes are there?")]),
        ("two_turns_text", SYSTEM, [T("Name a prime number.", False, "7 is a prime number."),
                                    T("And the next one?")]),
        ("three_turns_images_1_and_3", SYSTEM, [T("Describe this picture.", True, "A red car parked on a street."),
                                                T("Is it day or night?", False, "It is daytime."),
                                                T("And this one?", True)]),
        ("custom_system", "You are a terse assistant. Answer in one word.",
         [T(q_img, True, "Cats."), T("Colour of the blanket?")]),
        ("custom_system_one_turn_text", "Réponds en français.", [T("Hello!")]),
        ("answer_spaces_newlines", SYSTEM, [T(q_img, True, "  Two cats.\n\nBoth asleep.  \n"),
                                            T(" Anything else? ")]),
        ("answer_unicode_digits", SYSTEM, [
            T("Say something.", False, "Café ☕ 日本語 🙂 e\u0301 \u2581x — π≈3.14159, 2024-06-19, 1234567"),
            T("Repeat the digits 0123456789.", False, "0 1 2 3 4 5 6 7 8 9\t10"),
            T("Thanks")]),
        ("answer_literal_eos", SYSTEM, [T("Print a stop token.", False, "Done.</s> Next</s>x <s> <unk>"),
                                        T("Again?")],
         "the slow tokenizer maps literal <s>, </s>, <unk> to ids 1, 2, 0; with legacy=False the text right after "
         "one gets no dummy-prefix space; plain sentencepiece would give text pieces instead"),
        ("answer_endoftext_literal", SYSTEM, [T("What ends a turn?", False, "<|endoftext|>"), T("ok")]),
        ("answer_empty", SYSTEM, [T(q_img, True, ""), T("Hello?")],
         "an empty answer counts as missing in get_prompt: 'ASSISTANT:' with no separator, then 'USER:'"),
    ]


def build(tokenizer):
    out = []
    for name, system, turns, *note in cases():
        prompt = render(system, turns)
        case = {"name": name, "system": system, "turns": turns, "prompt": prompt,
                "ids": image_token_ids(prompt, tokenizer)}
        if note:
            case["note"] = note[0]
        if len(turns) > 1:
            case["ids_per_turn_prefix"] = [
                image_token_ids(render(system, turns[:k - 1] + [dict(turns[k - 1], assistant=None)]), tokenizer)
                for k in range(1, len(turns) + 1)]
        out.append(case)
    return out


# ---- checks ------------------------------------------------------------------------------------------

def check(data, tokenizer):
    by_name = {c["name"]: c for c in data}
    one = by_name["one_turn_image"]
    assert one["prompt"] == SYSTEM + " USER: <image>\nWhat are these? ASSISTANT:", one["prompt"]
    assert one["ids"] == SPEC_ONE_TURN_IDS, "one_turn_image differs from MODEL_SPEC §9"
    for c in data:
        assert c["turns"][-1]["assistant"] is None and c["prompt"].endswith("ASSISTANT:")
        assert c["ids"].count(IMAGE_ID) == sum(t["image"] for t in c["turns"])
        if "ids_per_turn_prefix" in c:
            assert c["ids_per_turn_prefix"][-1] == c["ids"]
    try:  # the repository's PyTorch reference, single-turn prompt and ids
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        import tinyllava_reference as ref
    except ImportError as e:
        print("note: tools/tinyllava_reference.py not importable (%s); reference check skipped" % e)
        return
    for name, image in (("one_turn_image", True), ("one_turn_text", False)):
        c = by_name[name]
        assert ref.chat_prompt(c["turns"][0]["user"], image) == c["prompt"], name
        assert ref.tokenizer_image_token(c["prompt"], tokenizer) == c["ids"], name
    print("reference check: one-turn prompts and ids equal tools/tinyllava_reference.py")


def report(data, tokenizer):
    from transformers import LlamaTokenizer
    legacy = LlamaTokenizer(vocab_file=tokenizer.vocab_file, legacy=True, pad_token="<unk>")
    for c in data:
        notes = []
        steps = c.get("ids_per_turn_prefix", [])
        for k in range(1, len(steps)):
            if steps[k][:len(steps[k - 1])] != steps[k - 1]:
                notes.append("step %d ids do not extend step %d" % (k + 1, k))
        if image_token_ids(c["prompt"], legacy) != c["ids"]:
            notes.append("legacy=True tokenizer gives other ids")
        print("%-28s %4d ids  %s" % (c["name"], len(c["ids"]), "; ".join(notes)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokenizer", default=DEFAULT_TOKENIZER, help="Llama-2 tokenizer.model (default: %(default)s)")
    ap.add_argument("-o", "--output", default=DEFAULT_OUT)
    args = ap.parse_args()
    tokenizer = load_tokenizer(args.tokenizer)
    data = build(tokenizer)
    check(data, tokenizer)
    report(data, tokenizer)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in data) + "\n]\n")
    print("wrote %s (%d cases, %d bytes)" % (args.output, len(data), os.path.getsize(args.output)))


if __name__ == "__main__":
    main()
