#!/usr/bin/env python3
"""PyTorch reference for TinyLLaVA-OpenELM-SigLIP, written from the original code's semantics.

Follows what `model.chat()` of jiajunlong/TinyLLaVA-OpenELM-450M-SigLIP-0.89B runs (MODEL_SPEC.md):
  * image: PIL `Image.open(...).convert("RGB")`, expand2square for image_aspect_ratio "pad", then
    transformers' own SiglipImageProcessor (PIL bicubic resize, rescale 1/255, normalize 0.5/0.5);
  * vision: transformers' own SiglipVisionModel, hidden_states[vision_feature_layer], 'patch' drops token 0;
  * connector: Linear -> GELU (erf) -> Linear;
  * prompt: the conv_phi_v0 chat template, tokenizer_image_token with the slow LlamaTokenizer;
  * text: OpenELM (pre-norm RMSNorm layers, fused QKV, per-head q/k RMSNorm, rotate-half RoPE in fp32,
    GQA by repeat_interleave, scaled-dot-product attention with an additive causal mask, SiLU-GLU FFN,
    final RMSNorm, tied or separate output head), written here in plain PyTorch;
  * generation: greedy with a KV cache, stopping after EOS (included) or N tokens.
Everything runs in float32 on the CPU with weights up-cast from the checkpoint's dtype, as the README
usage of the original does.

Library use (tools/make_model_fixtures.py) or command line:
  /usr/bin/python3 tools/tinyllava_reference.py -m CHECKPOINT_DIR [-i IMAGE] -p PROMPT -o OUTDIR [-n 16]
writes the same .npy files as `tinyllava dump`, for comparison with tools/compare_dump.py.
"""
import argparse
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from transformers import LlamaTokenizer, SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

IMAGE_TOKEN_INDEX = -200
SYSTEM = ("A chat between a curious user and an artificial intelligence assistant. "
          "The assistant gives helpful, detailed, and polite answers to the user's questions.")


# ---- OpenELM configuration (OpenELMConfig.__post_init__ semantics) ---------------------------------

def make_divisible(v, divisor):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def openelm_layers(tc):
    n = tc.get("num_transformer_layers", 12)
    dim, head_dim = tc.get("model_dim", 2048), tc.get("head_dim", 128)
    groups = tc.get("num_gqa_groups", 1)
    qkv = tc.get("qkv_multipliers", 1.0)
    if isinstance(qkv, (int, float)):
        qkv = [qkv] * n
    else:
        qkv = [round(v, 2) for v in np.linspace(qkv[0], qkv[1], num=n, dtype=float)]
    q_heads = [int(make_divisible(dim * m, head_dim * groups)) // head_dim for m in qkv]
    ffn = tc.get("ffn_multipliers", 4.0)
    if isinstance(ffn, (int, float)):
        ffn = [ffn] * n
    elif len(ffn) == 2:
        ffn = [round(v, 2) for v in np.linspace(ffn[0], ffn[1], num=n, dtype=float)]
    widths = [int(make_divisible(m * dim, tc.get("ffn_dim_divisor", 256))) for m in ffn]
    return [(q, q // groups, w) for q, w in zip(q_heads, widths)]


# ---- OpenELM ---------------------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, n, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class Attention(nn.Module):
    def __init__(self, tc, q_heads, kv_heads):
        super().__init__()
        dim, self.head_dim = tc.get("model_dim", 2048), tc.get("head_dim", 128)
        self.q_heads, self.kv_heads = q_heads, kv_heads
        self.qkv_proj = nn.Linear(dim, (q_heads + 2 * kv_heads) * self.head_dim, bias=False)
        if tc.get("normalize_qk_projections", False):
            self.q_norm, self.k_norm = RMSNorm(self.head_dim), RMSNorm(self.head_dim)
        else:
            self.q_norm = self.k_norm = None
        self.out_proj = nn.Linear(q_heads * self.head_dim, dim, bias=False)
        base = tc.get("rope_freq_constant", 10000)
        self.register_buffer("inv_freq", 1.0 / (base ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim)),
                             persistent=False)

    def rope(self, x, positions):
        angles = positions.float()[:, None] * self.inv_freq.float()
        angles = torch.cat((angles, angles), dim=-1)
        cos, sin = angles.cos(), angles.sin()
        first, second = x.float().chunk(2, dim=-1)
        return (x.float() * cos + torch.cat((-second, first), dim=-1) * sin).to(x.dtype)

    def forward(self, x, positions, cache):
        t = x.shape[0]
        qkv = self.qkv_proj(x).reshape(t, -1, self.head_dim).transpose(0, 1)  # (heads, T, Dh)
        q, k, v = qkv.split((self.q_heads, self.kv_heads, self.kv_heads), dim=0)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = self.rope(q, positions), self.rope(k, positions)
        if cache is not None:
            if cache:
                k, v = torch.cat((cache[0], k), dim=1), torch.cat((cache[1], v), dim=1)
            cache[:] = [k, v]
        groups = self.q_heads // self.kv_heads
        k, v = k.repeat_interleave(groups, dim=0), v.repeat_interleave(groups, dim=0)
        s = k.shape[1]
        # Scaled dot-product attention, math form, with OpenELM's additive causal mask.
        key_pos = torch.arange(s)
        mask = torch.where(key_pos[None, :] <= positions[:, None], 0.0, torch.finfo(torch.float32).min)
        weights = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(self.head_dim)) + mask
        out = torch.softmax(weights, dim=-1) @ v  # (H, T, Dh)
        return self.out_proj(out.transpose(0, 1).reshape(t, -1))


class FeedForward(nn.Module):
    def __init__(self, tc, width):
        super().__init__()
        dim = tc.get("model_dim", 2048)
        self.glu = tc.get("ffn_with_glu", True)
        self.proj_1 = nn.Linear(dim, 2 * width if self.glu else width, bias=False)
        self.proj_2 = nn.Linear(width, dim, bias=False)

    def forward(self, x):
        y = self.proj_1(x)
        if self.glu:
            gate, up = y.chunk(2, dim=-1)
            return self.proj_2(F.silu(gate) * up)
        return self.proj_2(F.silu(y))


class DecoderLayer(nn.Module):
    def __init__(self, tc, q_heads, kv_heads, width):
        super().__init__()
        dim = tc.get("model_dim", 2048)
        self.attn_norm, self.ffn_norm = RMSNorm(dim), RMSNorm(dim)
        self.attn = Attention(tc, q_heads, kv_heads)
        self.ffn = FeedForward(tc, width)

    def forward(self, h, positions, cache):
        h = h + self.attn(self.attn_norm(h), positions, cache)
        return h + self.ffn(self.ffn_norm(h))


class Transformer(nn.Module):
    def __init__(self, tc):
        super().__init__()
        self.token_embeddings = nn.Embedding(tc.get("vocab_size", 32000), tc.get("model_dim", 2048))
        self.layers = nn.ModuleList([DecoderLayer(tc, q, kv, w) for q, kv, w in openelm_layers(tc)])
        self.norm = RMSNorm(tc.get("model_dim", 2048))


class OpenELM(nn.Module):
    def __init__(self, tc):
        super().__init__()
        self.transformer = Transformer(tc)
        self.tied = tc.get("share_input_output_layers", False)
        if not self.tied:
            self.lm_head = nn.Linear(tc.get("model_dim", 2048), tc.get("vocab_size", 32000), bias=False)

    def forward(self, embeds, start, caches):
        positions = torch.arange(start, start + embeds.shape[0])
        h = embeds
        for layer, cache in zip(self.transformer.layers, caches):
            h = layer(h, positions, cache)
        h = self.transformer.norm(h)
        head = self.transformer.token_embeddings.weight if self.tied else self.lm_head.weight
        return h @ head.t()


# ---- TinyLLaVA -------------------------------------------------------------------------------------

class VisionTower(nn.Module):
    def __init__(self, vc):
        super().__init__()
        fields = {k: v for k, v in vc.items() if k not in ("model_type", "model_name_or_path", "model_name_or_path2")}
        self._vision_tower = SiglipVisionModel(SiglipVisionConfig(**fields))


class Connector(nn.Module):
    def __init__(self, vision_dim, dim):
        super().__init__()
        self._connector = nn.Sequential(nn.Linear(vision_dim, dim), nn.GELU(), nn.Linear(dim, dim))


class TinyLlava(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        tc, vc = config["text_config"], config["vision_config"]
        self.language_model = OpenELM(tc)
        self.vision_tower = VisionTower(vc)
        self.connector = Connector(vc.get("hidden_size", 768), tc.get("model_dim", 2048))

    def image_features(self, pixels):
        out = self.vision_tower._vision_tower(pixel_values=pixels[None], output_hidden_states=True)
        feats = out.hidden_states[self.config.get("vision_feature_layer", -2)][0]
        if self.config.get("vision_feature_select_strategy", "patch") == "patch":
            feats = feats[1:]
        return feats


def load(checkpoint_dir):
    with open(os.path.join(checkpoint_dir, "config.json")) as f:
        config = json.load(f)
    model = TinyLlava(config)
    state = {k: v.float() for k, v in load_file(os.path.join(checkpoint_dir, "model.safetensors")).items()}
    model.load_state_dict(state, strict=True)
    model.eval()
    return model


def preprocess(image_path, config):
    image = Image.open(image_path).convert("RGB")
    if config.get("image_aspect_ratio", "square") == "pad":
        w, h = image.size
        if w != h:
            side = max(w, h)
            canvas = Image.new(image.mode, (side, side), (127, 127, 127))
            canvas.paste(image, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
            image = canvas
    s = config["vision_config"].get("image_size", 224)
    processor = SiglipImageProcessor(size={"height": s, "width": s}, resample=3, do_rescale=True,
                                     rescale_factor=1 / 255, do_normalize=True, image_mean=[0.5] * 3,
                                     image_std=[0.5] * 3)
    return processor(image, return_tensors="pt")["pixel_values"][0]


def chat_prompt(question, with_image):
    return SYSTEM + " USER: " + ("<image>\n" if with_image else "") + question + " ASSISTANT:"


def tokenizer_image_token(prompt, tokenizer):
    chunks = [tokenizer(c).input_ids for c in prompt.split("<image>")]
    ids, offset = [], 0
    if chunks and chunks[0] and chunks[0][0] == tokenizer.bos_token_id:
        offset = 1
        ids.append(chunks[0][0])
    for i, chunk in enumerate(chunks):
        if i:
            ids.append(IMAGE_TOKEN_INDEX)
        ids.extend(chunk[offset:])
    return ids


@torch.no_grad()
def run(model, tokenizer, prompt, pixels=None, max_new_tokens=16, raw=False):
    """Returns dict with input_ids, logits (last prompt position), tokens, and image stages."""
    config = model.config
    ids = tokenizer_image_token(prompt if raw else chat_prompt(prompt, pixels is not None), tokenizer)
    out = {"input_ids": np.array(ids, dtype=np.int64)}
    emb = model.language_model.transformer.token_embeddings
    pieces = []
    if pixels is not None:
        feats = model.image_features(pixels)
        rows = model.connector._connector(feats)
        out.update(pixel_values=pixels.numpy(), vision_features=feats.numpy(), connector=rows.numpy())
    for i, tok in enumerate(ids):
        pieces.append(rows if tok == IMAGE_TOKEN_INDEX else emb(torch.tensor([tok])))
    x = torch.cat(pieces, dim=0)
    limit = config.get("tokenizer_model_max_length", 2048)
    x = x[:limit]
    caches = [[] for _ in model.language_model.transformer.layers]
    logits = model.language_model(x, 0, caches)[-1]
    out["logits"] = logits.numpy()
    tokens, margins, pos = [], [], x.shape[0]
    eos = config["text_config"].get("eos_token_id", 2)
    for _ in range(max_new_tokens):
        top2 = torch.topk(logits, 2).values
        margins.append(float(top2[0] - top2[1]))
        tok = int(torch.argmax(logits))
        tokens.append(tok)
        if tok == eos or len(tokens) == max_new_tokens:
            break
        logits = model.language_model(emb(torch.tensor([tok])), pos, caches)[-1]
        pos += 1
    out["tokens"] = np.array(tokens, dtype=np.int64)
    out["margins"] = margins
    return out


def save(out, outdir):
    os.makedirs(outdir, exist_ok=True)
    for name in ("pixel_values", "vision_features", "connector", "input_ids", "logits", "tokens"):
        if name in out:
            np.save(os.path.join(outdir, name + ".npy"), np.ascontiguousarray(out[name]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-i", "--image")
    ap.add_argument("--pixels")
    ap.add_argument("-p", "--prompt", required=True)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("-n", "--max-new-tokens", type=int, default=16)
    ap.add_argument("--raw", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    model = load(args.model)
    tokenizer = LlamaTokenizer(vocab_file=os.path.join(args.model, "tokenizer.model"), legacy=True)
    pixels = None
    if args.pixels:
        pixels = torch.from_numpy(np.load(args.pixels)).float().reshape(3, *np.load(args.pixels).shape[-2:])
    elif args.image:
        pixels = preprocess(args.image, model.config)
    out = run(model, tokenizer, args.prompt, pixels, args.max_new_tokens, args.raw)
    save(out, args.output)
    print("wrote", args.output, "min top-2 margin %.3g" % min(out["margins"]) if out["margins"] else "")


if __name__ == "__main__":
    main()
