#!/usr/bin/env python3
"""Extract the OpenELM decoder of a TinyLLaVA checkpoint as a stand-alone Hugging Face OpenELM model.

Used to measure llama.cpp (which runs OpenELM, not TinyLLaVA) on exactly the decoder shapes and
weights `tinyllava bench` runs:

  /usr/bin/python3 tools/extract_openelm.py TINYLLAVA_DIR OUT_DIR
  python llama.cpp/convert_hf_to_gguf.py OUT_DIR --outtype f16 --outfile openelm-f16.gguf
  llama.cpp/build/bin/llama-bench -m openelm-f16.gguf -p 774 -n 128 -t 2

Writes OUT_DIR/config.json (text_config as an OpenELMForCausalLM config), model.safetensors (the
language_model.* tensors without that prefix, dtype unchanged) and tokenizer.model.
Needs numpy and safetensors.
"""
import json
import os
import shutil
import sys

from safetensors.numpy import load_file, save_file


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    text = dict(config["text_config"])
    text.update(architectures=["OpenELMForCausalLM"], model_type="openelm", vocab_size=config.get("vocab_size", 32000))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(text, f, indent=2)
    tensors = load_file(os.path.join(src, "model.safetensors"))
    prefix = "language_model."
    save_file({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
              os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(os.path.join(src, "tokenizer.model"), os.path.join(out, "tokenizer.model"))
    print("wrote", out)


if __name__ == "__main__":
    main()
