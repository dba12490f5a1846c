#!/usr/bin/env python3
"""Compare two dump directories (`tinyllava dump` vs tools/tinyllava_reference.py) stage by stage.

  /usr/bin/python3 tools/compare_dump.py ENGINE_DIR REFERENCE_DIR [--tol 1e-4]

For each F32 stage prints max |a - b| / max |b| and fails (exit 1) above --tol; integer stages
(input_ids, tokens) must be identical. Also prints the reference's smallest top-2 logit margin.
"""
import argparse
import os
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("engine")
    ap.add_argument("reference")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    ok = True
    for name in ("pixel_values", "vision_features", "connector", "logits"):
        a_path, b_path = os.path.join(args.engine, name + ".npy"), os.path.join(args.reference, name + ".npy")
        if not os.path.exists(b_path):
            continue
        a, b = np.load(a_path).astype(np.float64), np.load(b_path).astype(np.float64)
        if a.shape != b.shape:
            print(f"{name:16s} shape {a.shape} vs {b.shape}  FAIL")
            ok = False
            continue
        rel = np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)
        good = rel <= args.tol
        ok &= good
        print(f"{name:16s} {str(a.shape):16s} max|diff|/max|ref| = {rel:.2e}  {'ok' if good else 'FAIL'}")
    for name in ("input_ids", "tokens"):
        a, b = np.load(os.path.join(args.engine, name + ".npy")), np.load(os.path.join(args.reference, name + ".npy"))
        same = a.shape == b.shape and (a == b).all()
        ok &= bool(same)
        print(f"{name:16s} {len(a)} vs {len(b)} ids  {'identical' if same else 'DIFFERENT'}")
        if not same:
            print("  engine   ", a.tolist())
            print("  reference", b.tolist())
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
