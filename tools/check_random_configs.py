#!/usr/bin/env python3
"""Parity on checkpoints with configs the engine has never seen.

For each of N random TinyLLaVA configs (random widths, depths, heads, GQA groups, multipliers, patch
and image sizes, feature layer and strategy, aspect mode, tied or separate head, GLU or not, q/k norm
or not, weight dtype), writes a random checkpoint with `tinyllava synth --config`, runs
`tinyllava dump` and tools/tinyllava_reference.py on the same image and prompt, and compares every
stage with tools/compare_dump.py.

  /usr/bin/python3 tools/check_random_configs.py [--count 10] [--seed 0] [--binary build/tinyllava]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TOKENIZER = os.path.join(ROOT, "tests", "fixtures", "tokenizer", "small_bpe.model")
IMAGE = os.path.join(ROOT, "tests", "fixtures", "models", "odd", "image.png")


def random_config(rng):
    head_dim = rng.choice([8, 16, 24, 32, 40])
    groups = rng.choice([1, 2, 3, 4])
    dim = head_dim * groups * rng.randint(2, 6)
    layers = rng.randint(1, 5)
    qkv = rng.choice([1.0, [0.5, 1.0], [0.25, 1.25], 0.75])
    ffn = rng.choice([2.0, [0.5, 2.5], [1.0, 4.0], [round(rng.uniform(0.5, 3), 2) for _ in range(layers)]])
    v_heads = rng.randint(1, 6)
    v_dim = v_heads * rng.choice([8, 12, 16, 20])
    patch = rng.choice([7, 8, 14, 16])
    image = patch * rng.randint(2, 6) + rng.randint(0, patch - 1)
    v_layers = rng.randint(1, 4)
    return {
        "model_type": "tinyllava", "connector_type": "mlp2x_gelu", "vocab_size": 600, "pad_token_id": 0,
        "image_aspect_ratio": rng.choice(["square", "pad"]),
        "vision_feature_layer": rng.randint(-v_layers - 1 + 1, -1),
        "vision_feature_select_strategy": rng.choice(["patch", "cls_patch"]),
        "text_config": {"model_type": "openelm", "vocab_size": 600, "model_dim": dim, "head_dim": head_dim,
                        "num_transformer_layers": layers, "qkv_multipliers": qkv, "num_gqa_groups": groups,
                        "ffn_multipliers": ffn, "ffn_dim_divisor": rng.choice([8, 16, 32]),
                        "ffn_with_glu": rng.random() < 0.7, "normalize_qk_projections": rng.random() < 0.7,
                        "share_input_output_layers": rng.random() < 0.5,
                        "rope_freq_constant": rng.choice([10000, 5000, 500000]), "max_context_length": 512},
        "vision_config": {"model_type": "siglip_vision_model", "hidden_size": v_dim, "num_attention_heads": v_heads,
                          "intermediate_size": rng.randint(v_dim, 4 * v_dim), "num_hidden_layers": v_layers,
                          "image_size": image, "patch_size": patch, "layer_norm_eps": 1e-6,
                          "hidden_act": "gelu_pytorch_tanh"},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "tinyllava"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.count):
            cfg = random_config(rng)
            d = os.path.join(tmp, f"m{i}")
            cfg_path = os.path.join(tmp, f"c{i}.json")
            with open(cfg_path, "w") as f:
                json.dump(cfg, f)
            dtype = rng.choice(["f16", "bf16", "f32"])
            subprocess.run([args.binary, "synth", "-o", d, "--config", cfg_path, "--dtype", dtype, "--seed", str(i),
                            "--tokenizer", TOKENIZER], check=True, capture_output=True)
            use_image = rng.random() < 0.8
            extra = ["-i", IMAGE] if use_image else []
            subprocess.run([args.binary, "dump", "-m", d, "-p", "What are these?", "-o", d + "/engine", "-n", "8"] + extra,
                           check=True, capture_output=True)
            subprocess.run([sys.executable, os.path.join(ROOT, "tools", "tinyllava_reference.py"), "-m", d, "-p",
                            "What are these?", "-o", d + "/ref", "-n", "8"] + extra, check=True, capture_output=True)
            r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "compare_dump.py"), d + "/engine", d + "/ref"],
                               capture_output=True, text=True)
            t, v = cfg["text_config"], cfg["vision_config"]
            print(f"config {i}: {dtype} text D={t['model_dim']} Dh={t['head_dim']} L={t['num_transformer_layers']} "
                  f"gqa={t['num_gqa_groups']} glu={t['ffn_with_glu']} qk={t['normalize_qk_projections']} "
                  f"tied={t['share_input_output_layers']} | vision D={v['hidden_size']} H={v['num_attention_heads']} "
                  f"L={v['num_hidden_layers']} S={v['image_size']} p={v['patch_size']} "
                  f"layer={cfg['vision_feature_layer']} {cfg['vision_feature_select_strategy']} "
                  f"{cfg['image_aspect_ratio']} image={use_image}: {'ok' if r.returncode == 0 else 'FAIL'}")
            if r.returncode != 0:
                failures += 1
                print(r.stdout)
    print(f"{args.count - failures}/{args.count} configs match")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
