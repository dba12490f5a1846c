#!/usr/bin/env python3
"""PyTorch on the same checkpoint, prompt and thread count as `tinyllava bench`, phase by phase.

Runs tools/tinyllava_reference.py's model (transformers' SiglipVisionModel; OpenELM, connector and
splice in plain PyTorch) in float32 — or with --bf16, under torch.autocast(cpu, bfloat16), PyTorch's
own reduced-precision CPU path — and prints the same fields as `tinyllava bench --json`, so the
README can put both side by side from one run:

  python tools/bench_pytorch.py -m CHECKPOINT_DIR [-t 2] [-n 128] [--bf16] [--json]

Use a pip build of PyTorch (its MKL/oneDNN kernels); Debian's python3-torch has no optimized BLAS.
Needs numpy, safetensors, transformers==4.39.3 and pillow beside torch.
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tinyllava_reference as ref  # noqa: E402


def synthetic_pixels(size):
    """The same synthetic 640x480 image as `tinyllava bench`, preprocessed by SiglipImageProcessor."""
    from PIL import Image
    from transformers import SiglipImageProcessor
    x = np.arange(640)[None, :].repeat(480, 0)
    y = np.arange(480)[:, None].repeat(640, 1)
    px = np.stack([x * 255 // 639, y * 255 // 479, ((x // 40 + y // 40) % 2) * 200], -1).astype(np.uint8)
    proc = SiglipImageProcessor(size={"height": size, "width": size}, resample=3, rescale_factor=1 / 255,
                                image_mean=[0.5] * 3, image_std=[0.5] * 3)
    return proc(Image.fromarray(px), return_tensors="pt")["pixel_values"][0]


@torch.no_grad()
def bench(model, tokenizer, pixels_fn, prompt, n_decode):
    t = {}
    start = time.perf_counter()
    pixels = pixels_fn()
    t["preprocess_ms"] = (time.perf_counter() - start) * 1e3
    s = time.perf_counter()
    feats = model.image_features(pixels)
    t["vision_ms"] = (time.perf_counter() - s) * 1e3
    s = time.perf_counter()
    rows = model.connector._connector(feats)
    t["projector_ms"] = (time.perf_counter() - s) * 1e3
    ids = ref.tokenizer_image_token(ref.chat_prompt(prompt, True), tokenizer)
    emb = model.language_model.transformer.token_embeddings
    x = torch.cat([rows if i == ref.IMAGE_TOKEN_INDEX else emb(torch.tensor([i])) for i in ids], dim=0)
    caches = [[] for _ in model.language_model.transformer.layers]
    s = time.perf_counter()
    logits = model.language_model(x, 0, caches)[-1]
    tok = int(torch.argmax(logits))
    t["prefill_ms"] = (time.perf_counter() - s) * 1e3
    t["ttft_ms"] = (time.perf_counter() - start) * 1e3
    t["prefill_tokens"] = x.shape[0]
    pos = x.shape[0]
    s = time.perf_counter()
    for _ in range(n_decode - 1):
        logits = model.language_model(emb(torch.tensor([tok])), pos, caches)[-1]
        tok = int(torch.argmax(logits))
        pos += 1
    t["decode_tokens"] = n_decode
    t["decode_tok_s"] = (n_decode - 1) / (time.perf_counter() - s)
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-t", "--threads", type=int, default=os.cpu_count())
    ap.add_argument("-n", "--decode-tokens", type=int, default=128)
    ap.add_argument("-p", "--prompt", default="What are these?")
    ap.add_argument("--bf16", action="store_true", help="torch.autocast(cpu, bfloat16)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    s = time.perf_counter()
    model = ref.load(args.model)
    load_ms = (time.perf_counter() - s) * 1e3
    from transformers import LlamaTokenizer
    tokenizer = LlamaTokenizer(vocab_file=os.path.join(args.model, "tokenizer.model"), legacy=True)
    size = model.config["vision_config"].get("image_size", 224)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
        bench(model, tokenizer, lambda: synthetic_pixels(size), args.prompt, 8)  # warm-up
        t = bench(model, tokenizer, lambda: synthetic_pixels(size), args.prompt, args.decode_tokens)
    t.update(threads=torch.get_num_threads(), precision="bf16-autocast" if args.bf16 else "f32", load_ms=load_ms,
             torch=torch.__version__, peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    for k in ("preprocess_ms", "vision_ms", "projector_ms", "prefill_ms", "ttft_ms"):
        print(f"{k:14s} {t[k]:10.1f}")
    print(f"decode_tok_s   {t['decode_tok_s']:10.1f}")
    if args.json:
        print(json.dumps(t))


if __name__ == "__main__":
    main()
