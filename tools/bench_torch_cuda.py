#!/usr/bin/env python3
"""PyTorch baselines for the CUDA kernels, at the model's shapes, on the GPU beside bench/bench_cuda_*:

  python3 tools/bench_torch_cuda.py [--json]

Attention: torch.nn.functional.scaled_dot_product_attention (PyTorch picks flash / memory-efficient /
cuDNN) in fp32, fp16 and bf16, for SigLIP (729 tokens, 16 heads of 72, non-causal), OpenELM prefill
(774 tokens, 16 query and 4 KV heads of 64, causal) and decode (1 query over 128 / 774 / 2048 keys).
GEMM: torch.matmul (cuBLAS) with f16/bf16 operands at the SigLIP and OpenELM shapes. Timing: CUDA
events around 50 calls after 10 warm-ups, median of 5 repeats. bench/gpu_check.sh runs it.
"""
import argparse
import json
import statistics

import torch
import torch.nn.functional as F


def time_ms(fn, repeats=5, calls=50, warmup=10):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / calls)
    return statistics.median(times)


def attention_cases():
    # name, T, S, H, Hkv, Dh, causal
    yield "siglip", 729, 729, 16, 16, 72, False
    yield "prefill", 774, 774, 16, 4, 64, True
    for s in (128, 774, 2048):
        yield f"decode_S{s}", 1, s, 16, 4, 64, False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    dev = torch.device("cuda")
    rows = []
    for name, T, S, H, Hkv, Dh, causal in attention_cases():
        for dt in (torch.float32, torch.float16, torch.bfloat16):
            q = torch.randn(1, H, T, Dh, device=dev, dtype=dt)
            k = torch.randn(1, Hkv, S, Dh, device=dev, dtype=dt).repeat_interleave(H // Hkv, 1)
            v = torch.randn(1, Hkv, S, Dh, device=dev, dtype=dt).repeat_interleave(H // Hkv, 1)
            ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
            flops = 4.0 * T * S * H * Dh * (0.5 if causal else 1.0)
            rows.append({"op": "sdpa", "case": name, "dtype": str(dt).split(".")[-1], "ms": ms,
                         "tflops": flops / ms / 1e9})
    gemms = [("siglip_qkv", 729, 1152, 1152), ("siglip_fc1", 729, 4304, 1152), ("siglip_fc2", 729, 1152, 4304),
             ("prefill_qkv", 774, 3072, 1536), ("prefill_ffn1", 774, 8192, 1536), ("prefill_ffn2", 774, 1536, 4096),
             ("decode_head", 1, 32000, 1536)]
    for name, M, N, K in gemms:
        for dt in (torch.float16, torch.bfloat16):
            a = torch.randn(M, K, device=dev, dtype=dt)
            w = torch.randn(N, K, device=dev, dtype=dt)
            ms = time_ms(lambda: torch.matmul(a, w.t()))
            rows.append({"op": "matmul", "case": name, "dtype": str(dt).split(".")[-1], "ms": ms,
                         "tflops": 2.0 * M * N * K / ms / 1e9, "gbs": N * K * 2 / ms / 1e6})
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    for r in rows:
        extra = f"  {r['gbs']:8.1f} GB/s" if "gbs" in r and r["case"].startswith("decode") else ""
        print(f"{r['op']:7s} {r['case']:13s} {r['dtype']:9s} {r['ms']*1e3:9.1f} us  {r['tflops']:7.2f} TFLOP/s{extra}")
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
