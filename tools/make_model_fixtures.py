#!/usr/bin/env python3
"""Make the model parity fixtures in tests/fixtures/models/ (committed; tests never run Python).

Each fixture is a small random-weight checkpoint in the exact Hugging Face layout, written here with
safetensors (an independent writer), plus what tools/tinyllava_reference.py computes for it:

  <name>/config.json, model.safetensors, tokenizer.model (tests/fixtures/tokenizer/small_bpe.model),
         generation_config.json, image.png
  <name>/expected/        prompt "What are these?" with image.png:
                          pixel_values, vision_features, connector, input_ids, logits, tokens (.npy)
  <name>/expected_text/   a text-only prompt: input_ids, logits, tokens

Configs (vocabulary 600 = the small tokenizer):
  tiny   f16   the real structure scaled down: uneven heads (2,4,4,4), GQA 2, GLU, q/k norm, tied head,
               64-px image with 14-px patches (border not covered), hidden_states[-2], 'patch'
  odd    bf16  non-power-of-two widths (vision 120, text 160), head dims 24 and 16, GQA 4 with 4/8 heads,
               separate lm_head, RoPE base 5000, hidden_states[-3], 'pad' aspect, 60-px image, 12-px patches
  plain  f32   MHA, no GLU, no q/k norm, 'cls_patch' (all tokens kept), hidden_states[-1]

Weights are drawn at fan-in scale so activations and logits are well spread; the seed is advanced
until every greedy step's top-2 logit margin exceeds 1e-3 (so fp32 rounding can never flip a token).

Run from the repository root:  /usr/bin/python3 tools/make_model_fixtures.py
(needs python3-torch, python3-pil, python3-numpy and pip's transformers==4.39.3, safetensors)
"""
import json
import math
import os
import shutil

import numpy as np
import torch
from PIL import Image, ImageDraw
from safetensors.torch import save_file
from transformers import LlamaTokenizer

import tinyllava_reference as ref

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "models")
TOKENIZER = os.path.join(ROOT, "tests", "fixtures", "tokenizer", "small_bpe.model")
PROMPT = "What are these?"
TEXT_PROMPT = "Describe a sunny day in two words."

COMMON = {"architectures": ["TinyLlavaForConditionalGeneration"], "model_type": "tinyllava",
          "connector_type": "mlp2x_gelu", "image_token_index": -200, "pad_token_id": 0,
          "tokenizer_model_max_length": 2048, "vocab_size": 600}

CONFIGS = {
    "tiny": dict(dtype=torch.float16, image=(45, 37), config=dict(
        COMMON, hidden_size=128, vision_hidden_size=64, image_aspect_ratio="square", vision_feature_layer=-2,
        vision_feature_select_strategy="patch",
        text_config=dict(model_type="openelm", vocab_size=600, model_dim=128, head_dim=32, num_transformer_layers=4,
                         qkv_multipliers=[0.5, 1.0], num_gqa_groups=2, ffn_multipliers=[0.5, 2.0], ffn_dim_divisor=64,
                         ffn_with_glu=True, normalize_qk_projections=True, share_input_output_layers=True,
                         activation_fn_name="swish", normalization_layer_name="rms_norm", rope_freq_constant=10000,
                         rope_max_length=4096, max_context_length=2048),
        vision_config=dict(model_type="siglip_vision_model", hidden_size=64, intermediate_size=176,
                           num_hidden_layers=3, num_attention_heads=4, image_size=64, patch_size=14,
                           layer_norm_eps=1e-6, hidden_act="gelu_pytorch_tanh"))),
    "odd": dict(dtype=torch.bfloat16, image=(100, 70), config=dict(
        COMMON, hidden_size=160, vision_hidden_size=120, image_aspect_ratio="pad", vision_feature_layer=-3,
        vision_feature_select_strategy="patch",
        text_config=dict(model_type="openelm", vocab_size=600, model_dim=160, head_dim=16, num_transformer_layers=5,
                         qkv_multipliers=[0.25, 0.75], num_gqa_groups=4, ffn_multipliers=[0.5, 1.5], ffn_dim_divisor=32,
                         ffn_with_glu=True, normalize_qk_projections=True, share_input_output_layers=False,
                         rope_freq_constant=5000, rope_max_length=4096, max_context_length=1024),
        vision_config=dict(model_type="siglip_vision_model", hidden_size=120, intermediate_size=136,
                           num_hidden_layers=4, num_attention_heads=5, image_size=60, patch_size=12,
                           layer_norm_eps=1e-6, hidden_act="gelu_pytorch_tanh"))),
    "plain": dict(dtype=torch.float32, image=(30, 50), config=dict(
        COMMON, hidden_size=96, vision_hidden_size=48, image_aspect_ratio="square", vision_feature_layer=-1,
        vision_feature_select_strategy="cls_patch",
        text_config=dict(model_type="openelm", vocab_size=600, model_dim=96, head_dim=24, num_transformer_layers=2,
                         qkv_multipliers=1.0, num_gqa_groups=1, ffn_multipliers=2.0, ffn_dim_divisor=16,
                         ffn_with_glu=False, normalize_qk_projections=False, share_input_output_layers=True),
        vision_config=dict(model_type="siglip_vision_model", hidden_size=48, intermediate_size=80,
                           num_hidden_layers=2, num_attention_heads=2, image_size=28, patch_size=14,
                           layer_norm_eps=1e-6, hidden_act="gelu_pytorch_tanh"))),
}


def make_image(size, seed):
    rng = np.random.default_rng(seed)
    w, h = size
    im = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
    d = ImageDraw.Draw(im)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        box = (x0, y0, x0 + int(rng.integers(4, w)), y0 + int(rng.integers(4, h)))
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=color)
    # A smooth gradient over part of it, so resampling sees more than flat areas and edges.
    px = np.array(im).astype(np.int32)
    px[: h // 2, :, 2] = (np.arange(w)[None, :] * 255 // max(1, w - 1)).astype(np.int32)
    return Image.fromarray(px.clip(0, 255).astype(np.uint8))


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("bias") or name.endswith("probe"):
            v = torch.randn(p.shape, generator=g) * 0.1
        elif p.dim() == 1:  # norm scales
            v = 1.0 + torch.randn(p.shape, generator=g) * 0.1
        elif "token_embeddings" in name:
            # Small next to the blocks' outputs, so a tied head does not just echo the input token.
            v = torch.randn(p.shape, generator=g) * 0.05
        elif "position_embedding" in name:
            v = torch.randn(p.shape, generator=g) * 0.5
        else:
            fan_in = int(np.prod(p.shape[1:]))
            v = torch.randn(p.shape, generator=g) / math.sqrt(fan_in)
        with torch.no_grad():
            p.copy_(v)


def write_checkpoint(d, spec, seed):
    model = ref.TinyLlava(spec["config"])
    randomize(model, seed)
    tensors = {k: v.detach().to(spec["dtype"]).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(spec["config"], f, indent=2)
        f.write("\n")
    with open(os.path.join(d, "generation_config.json"), "w") as f:
        json.dump({"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 2, "transformers_version": "4.39.3",
                   "use_cache": False}, f, indent=2)
        f.write("\n")
    shutil.copy(TOKENIZER, os.path.join(d, "tokenizer.model"))


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    for index, (name, spec) in enumerate(CONFIGS.items()):
        d = os.path.join(OUT, name)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        make_image(spec["image"], index).save(os.path.join(d, "image.png"))
        for attempt in range(50):
            seed = 1000 * index + attempt
            write_checkpoint(d, spec, seed)
            model = ref.load(d)  # weights as stored (rounded to the checkpoint dtype), in fp32
            tok = LlamaTokenizer(vocab_file=os.path.join(d, "tokenizer.model"), legacy=True)
            pixels = ref.preprocess(os.path.join(d, "image.png"), model.config)
            image_run = ref.run(model, tok, PROMPT, pixels, 16)
            text_run = ref.run(model, tok, TEXT_PROMPT, None, 16)
            margins = image_run["margins"] + text_run["margins"]
            if min(margins) > 1e-3:
                break
        ref.save(image_run, os.path.join(d, "expected"))
        ref.save(text_run, os.path.join(d, "expected_text"))
        print(f"{name}: seed {seed}, tokens {image_run['tokens'].tolist()} / {text_run['tokens'].tolist()}, "
              f"min top-2 margin {min(margins):.3g}, logits max |.| {np.abs(image_run['logits']).max():.3g}")


if __name__ == "__main__":
    main()
