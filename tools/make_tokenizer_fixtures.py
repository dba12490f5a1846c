#!/usr/bin/env python3
"""Make the tokenizer test fixtures in tests/fixtures/tokenizer/ (committed; tests never run Python).

Trains a small SentencePiece BPE model with the sentencepiece library (Debian: python3-sentencepiece,
python3-protobuf; the reference ids of ../shared/tokenizer/dev_corpus.jsonl come from its 0.1.97),
derives two variants that exercise the other code paths, and records what the library returns:

  small_bpe.model          BPE, byte fallback, identity normalizer, dummy prefix, user-defined symbols
  small_bpe_variant.model  no byte fallback (unknowns collapse into one <unk>), remove_extra_whitespaces,
                           some pieces marked UNUSED (merges into them are undone)
  small_bpe_plain.model    no dummy prefix, spaces not escaped to U+2581
  <model>.expected.jsonl   one line per case: {"text": hex, "ids": [...], "pieces": hex list,
                           "decoded": hex of decode(ids)} and decode-only cases {"ids": [...], "decoded": hex}

Run from the repository root:  /usr/bin/python3 tools/make_tokenizer_fixtures.py
"""
import json
import os
import random
import sys
import tempfile

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as pb

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "tokenizer")

WORDS = ("the quick brown fox jumps over lazy dog image token model vision language patch embed "
         "attention head layer norm weight bias tensor shape float half byte piece merge score "
         "what are these photo cat sitting on a red sofa near window sunlight").split()
EXTRA = ["café", "naïve", "über", "日本語", "中文", "한국어", "🙂", "🚀", "Ω", "ß", "ﬁ", "e\u0301"]


def training_text(rng):
    lines = []
    for _ in range(4000):
        n = rng.randint(3, 14)
        words = [rng.choice(WORDS) if rng.random() < 0.9 else rng.choice(EXTRA) for _ in range(n)]
        line = " ".join(words)
        if rng.random() < 0.3:
            line += " " + str(rng.randint(0, 99999))
        if rng.random() < 0.2:
            line = line.capitalize() + "."
        lines.append(line)
    return "\n".join(lines) + "\n"


def random_text(rng):
    pool = (list("abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789.,;:!?'\"-_()[]{}<>/\\") +
            [" ", " ", "  ", "\t", "\n", "\r\n", "\x00", "\x01", "\x7f", "\u2581", "\ufffd", "\u00e9",
             "\u0301", "\u4e2d", "\u65e5", "\U0001F642", "\U0001F680", "\u200b", "\ufeff", "<image>",
             "<|sep|>", "<s>", "</s>", "<unk>"] + WORDS + EXTRA)
    return "".join(rng.choice(pool) for _ in range(rng.randint(0, 40)))


def random_bytes(rng):
    return bytes(rng.randrange(256) for _ in range(rng.randint(1, 24)))


def edge_cases():
    return ["", " ", "  ", "   ", "\t", "\n", " \n ", "a", " a", "a ", "a  b", "  lead and trail  ",
            "<image>", "x<image>y", "<image><image>", "<|sep|> <|sep|>", "\u2581", "\u2581a", "a\u2581",
            "12345", "3.14159", "e\u0301", "\U0001F642\U0001F642", "\x00", "\ufffd", "What are these?",
            "the the the the the the the the", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "ab" * 50]


def as_bytes(s):
    return s if isinstance(s, bytes) else s.encode("utf-8", "surrogatepass")


def hexs(b):
    return b.hex()


def record(model_path, rng, out_path):
    sp = spm.SentencePieceProcessor(model_file=model_path)
    texts = [t.encode("utf-8") for t in edge_cases()]
    texts += [random_text(rng).encode("utf-8") for _ in range(200)]
    texts += [random_bytes(rng) for _ in range(60)]
    texts.append(" ".join(rng.choice(WORDS + EXTRA) for _ in range(600)).encode("utf-8"))
    with open(out_path, "w") as f:
        for t in texts:
            ids = sp.encode(t)
            pieces = sp.encode(t, out_type=str)
            decoded = sp.decode(ids).encode("utf-8", "surrogatepass")
            f.write(json.dumps({"text": hexs(t), "ids": ids, "pieces": [hexs(as_bytes(p)) for p in pieces],
                                "decoded": hexs(decoded)}) + "\n")
        # Decode-only: random id sequences, heavy on byte pieces so multi-byte and broken UTF-8 occur.
        n = sp.get_piece_size()
        byte_ids = [i for i in range(n) if sp.is_byte(i)]
        for _ in range(150):
            ids = []
            for _ in range(rng.randint(0, 12)):
                r = rng.random()
                if byte_ids and r < 0.5:
                    ids.append(rng.choice(byte_ids))
                elif byte_ids and r < 0.6:  # a valid multi-byte character as byte pieces
                    ids += [byte_ids[b] for b in rng.choice(EXTRA).encode("utf-8")]
                else:
                    ids.append(rng.randrange(n))
            f.write(json.dumps({"ids": ids, "decoded": hexs(sp.decode(ids).encode("utf-8", "surrogatepass"))}) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(20261128)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w") as f:
            f.write(training_text(rng))
        prefix = os.path.join(tmp, "small_bpe")
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=prefix, model_type="bpe", vocab_size=600, character_coverage=1.0,
            byte_fallback=True, normalization_rule_name="identity", remove_extra_whitespaces=False,
            split_digits=True, user_defined_symbols=["<image>", "<|sep|>"], allow_whitespace_only_pieces=True,
            num_threads=1, minloglevel=2)
        base = pb.ModelProto()
        base.ParseFromString(open(prefix + ".model", "rb").read())
        # The trainer records its temporary paths; fix them so the output is reproducible.
        del base.trainer_spec.input[:]
        base.trainer_spec.model_prefix = "small_bpe"

    models = {"small_bpe": base}

    variant = pb.ModelProto()
    variant.CopyFrom(base)
    variant.trainer_spec.byte_fallback = False
    kept = [p for p in variant.pieces if p.type != pb.ModelProto.SentencePiece.BYTE]
    del variant.pieces[:]
    variant.pieces.extend(kept)
    normal = [p for p in variant.pieces if p.type == pb.ModelProto.SentencePiece.NORMAL and len(p.piece) >= 3]
    for p in random.Random(7).sample(normal, 25):
        p.type = pb.ModelProto.SentencePiece.UNUSED
    variant.normalizer_spec.remove_extra_whitespaces = True
    models["small_bpe_variant"] = variant

    plain = pb.ModelProto()
    plain.CopyFrom(base)
    plain.normalizer_spec.add_dummy_prefix = False
    plain.normalizer_spec.escape_whitespaces = False
    models["small_bpe_plain"] = plain

    for name, proto in models.items():
        path = os.path.join(OUT, name + ".model")
        with open(path, "wb") as f:
            f.write(proto.SerializeToString())
        record(path, rng, os.path.join(OUT, name + ".expected.jsonl"))
        print("wrote", path, file=sys.stderr)


if __name__ == "__main__":
    main()
