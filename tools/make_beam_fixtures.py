#!/usr/bin/env python3
"""Make the beam-search fixtures in tests/fixtures/beams/{tiny,odd}.json (committed; tests never run Python).

The outputs are Hugging Face transformers 4.39.3's own `generate(num_beams=N)`, not a re-implementation:
the plain-PyTorch OpenELM of tools/tinyllava_reference.py is wrapped in a minimal `PreTrainedModel`
(`BeamRef` below), and `model.generate(inputs_embeds=PROMPT_EMBEDS, num_beams=N, max_new_tokens=M,
do_sample=False, ...)` runs transformers' unchanged `generate` -> `BeamSearchScorer` + `_beam_search`
(and `greedy_search` for num_beams=1), as TinyLLaVA's chat() does: it calls generate with
`inputs_embeds` = the spliced image rows + text embeddings of the conv_phi_v0 prompt, and no input_ids.

The wrapper keeps a per-sequence KV cache (legacy tuple `past_key_values`, one entry per beam) and
implements `_reorder_cache`, which `_beam_search` calls after each step. Every case is also generated a
second time without a cache (full recompute of prompt embeds + generated tokens each step) and the two
must agree exactly in tokens (and to 1e-5 in score).  Everything is float32 on the CPU.

HF semantics these fixtures pin down (4.39.3, batch 1, num_return_sequences 1, length_penalty 1.0,
early_stopping False, do_sample False):
  * with inputs_embeds and no input_ids, `input_ids` starts as a (N, 0) tensor: the returned sequences
    hold only new tokens, `max_new_tokens` M gives max_length = M + 0, and decoder_prompt_len = 0, so
    the prompt length is NOT counted in the length penalty;
  * beam 0 starts at score 0, the others at -1e9; each step scores = beam score + log_softmax(logits),
    the top 2*N of the N*vocab candidates (sorted) are walked in order: an EOS candidate of rank < N
    becomes a finished hypothesis (tokens without the EOS, score = sum_logprobs / generated_len**lp
    with generated_len = tokens generated INCLUDING the EOS); an EOS of rank >= N is skipped; non-EOS
    candidates fill the N running beams;
  * done (early_stopping=False) when N finished hypotheses exist and the worst of them
    >= best candidate sum_logprobs of this step / cur_new_len**lp (cur_new_len counts this step's token;
    the best candidate is the top of all 2N, EOS or not, including one just finished). When that top
    candidate is itself an EOS that just became the worst of the N finished hypotheses, the two sides
    are the same double and `>=` holds by equality: the search stops. Otherwise the loop stops after M
    new tokens, and finalize adds the N running beams (score = beam score / M**lp) to the finished ones;
  * the best hypothesis is returned; a finished one gets the EOS appended (so EOS is included);
    with one sequence returned there is never padding.  sequences_scores = that normalized score.

Each case records "tokens" (HF's returned sequence, EOS included when the best beam finished, no
padding), "sequence_score", "greedy_tokens" (same call with num_beams=1), and diagnostics:
"finished_by_eos" (best ends in EOS), "steps" (number of decoding steps the beam search ran) and
"min_margin" (the smallest gap between two scores whose order decided the result: per step, the last
candidate taken vs the first left out, rank N-1 vs N when an EOS is among those taken, the early-stopping
test once N hypotheses are finished; and the best vs the second-best final hypothesis). All cases have
min_margin >= 1.7e-3, far above fp32 differences between implementations.
The random fixture models never rank the config's EOS (2) within reach, so the EOS cases set
eos_token_id to a token of the prompt's greedy output (recorded per case). Scores are float32
sums as HF accumulates them; sequence_score is HF's float32 sequences_scores[0].

Run from the repository root:  python3 tools/make_beam_fixtures.py
"""
import json
import os
import sys

import numpy as np
import torch
from transformers import LlamaTokenizer, PretrainedConfig, PreTrainedModel
from transformers.generation import beam_search as hf_beam_search
from transformers.modeling_outputs import CausalLMOutputWithPast

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tinyllava_reference as ref  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
OUT = os.path.join(ROOT, "tests", "fixtures", "beams")
PROMPT = "What are these?"
TEXT_PROMPT = "Describe a sunny day in two words."
MAX_NEW = 12
PAD = 0            # config.json pad_token_id (never appears: one sequence is returned)
CONFIG_EOS = 2     # generation_config.json eos_token_id
BOS = 1

# The EOS-reachable cases per model: (prompt, image, num_beams, max_new_tokens, eos_token_id).
# Found with `--search`: the random models never rank the config's EOS (2) high enough, so the EOS is a
# token of that prompt's greedy output, picked so that the best beam ends with it before max_new_tokens
# and differs from greedy; the first case of each model stops early (the early_stopping=False test
# fires before max_new_tokens), the second runs all max_new_tokens steps and the finished hypothesis
# still beats the running beams that finalize() adds.
EOS_CASES = {
    "tiny": [(PROMPT, True, 3, MAX_NEW, 118), ("What is in the image?", True, 3, MAX_NEW, 3)],
    "odd": [(PROMPT, True, 2, MAX_NEW, 211), ("Tell me a story.", False, 2, MAX_NEW, 283)],
}


class BeamRefConfig(PretrainedConfig):
    model_type = "tinyllava_beam_ref"


class BeamRef(PreTrainedModel):
    """The reference OpenELM behind transformers' GenerationMixin; batch rows run one by one."""
    config_class = BeamRefConfig
    main_input_name = "input_ids"

    def __init__(self, config, lm, use_cache=True):
        super().__init__(config)
        self.lm = lm
        self.kv = use_cache

    def embed(self, ids):
        return self.lm.transformer.token_embeddings(ids)

    def prepare_inputs_for_generation(self, input_ids, past_key_values=None, inputs_embeds=None, **kwargs):
        if not self.kv:  # full recompute: prompt embeds + embeddings of every generated token
            return {"inputs_embeds": torch.cat((inputs_embeds, self.embed(input_ids)), dim=1)}
        if past_key_values is None:  # first step: the prompt embeddings
            return {"inputs_embeds": inputs_embeds}
        return {"input_ids": input_ids[:, -1:], "past_key_values": past_key_values}

    def forward(self, input_ids=None, inputs_embeds=None, past_key_values=None, return_dict=True,
                output_attentions=False, output_hidden_states=False, **kwargs):
        x = inputs_embeds if input_ids is None else self.embed(input_ids)
        logits, past = [], []
        for b in range(x.shape[0]):
            if past_key_values is None:
                caches, start = [[] for _ in self.lm.transformer.layers], 0
            else:
                caches = past_key_values[b]
                start = caches[0][0].shape[1]
            logits.append(self.lm(x[b], start, caches)[-1:])
            past.append(caches)
        return CausalLMOutputWithPast(logits=torch.stack(logits),
                                      past_key_values=tuple(past) if self.kv else None)

    def _reorder_cache(self, past_key_values, beam_idx):
        # New per-layer lists (the reference cache is updated in place), sharing the immutable tensors.
        return tuple([list(layer) for layer in past_key_values[int(i)]] for i in beam_idx)


class Recorder:
    """Observes BeamSearchScorer.process/finalize (calls the originals unchanged) to measure margins."""

    def __enter__(self):
        self.process, self.finalize = hf_beam_search.BeamSearchScorer.process, hf_beam_search.BeamSearchScorer.finalize
        rec = self

        def process(scorer, input_ids, next_scores, next_tokens, next_indices, **kw):
            was_done = bool(scorer._done[0])
            out = rec.process(scorer, input_ids, next_scores, next_tokens, next_indices, **kw)
            rec.step(scorer, input_ids.shape[-1] + 1 - kw.get("decoder_prompt_len", 0), was_done,
                     next_scores[0].tolist(), next_tokens[0].tolist(), kw.get("eos_token_id"))
            return out

        def finalize(scorer, *a, **kw):
            out = rec.finalize(scorer, *a, **kw)
            hyps = sorted((h[0] for h in scorer._beam_hyps[0].beams), reverse=True)
            if len(hyps) > 1:
                rec.gaps.append(hyps[0] - hyps[1])
            return out

        self.steps, self.gaps = 0, []
        hf_beam_search.BeamSearchScorer.process = process
        hf_beam_search.BeamSearchScorer.finalize = finalize
        return self

    def __exit__(self, *exc):
        hf_beam_search.BeamSearchScorer.process, hf_beam_search.BeamSearchScorer.finalize = self.process, self.finalize

    def step(self, scorer, new_len, was_done, scores, tokens, eos):
        """The gaps whose sign decided this step: the candidate set's boundary, an EOS candidate's rank < N
        test, and the early-stopping test."""
        self.steps += 1
        eos = [eos] if isinstance(eos, int) else (eos or [])
        n, filled, used = scorer.group_size, 0, len(tokens)
        for rank, t in enumerate(tokens):
            filled += t not in eos
            if filled == n:
                used = rank + 1
                break
        if used < len(scores):
            self.gaps.append(scores[used - 1] - scores[used])
        if any(t in eos for t in tokens[:used + 1]):
            self.gaps.append(scores[n - 1] - scores[n])
        hyp = scorer._beam_hyps[0]
        if not was_done and len(hyp) >= n:
            best = scores[0] / new_len ** hyp.length_penalty  # highest attainable score (scores are sorted)
            finished = [h[0] for h in hyp.beams]
            if tokens[0] in eos and best in finished:
                # The best candidate is itself an EOS, now a finished hypothesis of exactly that score, so
                # worst >= best holds (with equality) iff it is the worst one: decided by the other scores.
                finished.remove(best)
                self.gaps += [abs(h - best) for h in finished]
            else:
                self.gaps.append(abs(hyp.worst_score - best))

    def margin(self):
        return min(self.gaps)


def prompt_embeds(model, tokenizer, prompt, pixels):
    ids = ref.tokenizer_image_token(ref.chat_prompt(prompt, pixels is not None), tokenizer)
    emb = model.language_model.transformer.token_embeddings
    rows = model.connector._connector(model.image_features(pixels)) if pixels is not None else None
    pieces = [rows if t == ref.IMAGE_TOKEN_INDEX else emb(torch.tensor([t])) for t in ids]
    return torch.cat(pieces, dim=0)[None]  # (1, T, D)


@torch.no_grad()
def generate(model, embeds, num_beams, max_new, eos, use_cache=True):
    wrapper = BeamRef(BeamRefConfig(), model.language_model, use_cache).eval()
    with Recorder() as rec:
        out = wrapper.generate(inputs_embeds=embeds, num_beams=num_beams, max_new_tokens=max_new, do_sample=False,
                               eos_token_id=eos, pad_token_id=PAD, bos_token_id=BOS, length_penalty=1.0,
                               early_stopping=False, num_return_sequences=1, output_scores=True,
                               return_dict_in_generate=True)
    tokens = out.sequences[0].tolist()
    score = float(out.sequences_scores[0]) if num_beams > 1 else None
    info = {"steps": rec.steps, "min_margin": rec.margin()} if num_beams > 1 else {}
    return tokens, score, info


@torch.no_grad()
def forced_score(model, embeds, tokens):
    """sum of log_softmax over `tokens` fed back one by one, / len(tokens) (length_penalty 1.0)."""
    lm = model.language_model
    x = torch.cat((embeds[0], lm.transformer.token_embeddings(torch.tensor(tokens[:-1], dtype=torch.long))))
    logp = torch.log_softmax(lm(x, 0, [[] for _ in lm.transformer.layers]), dim=-1)[-len(tokens):]
    return float(logp[torch.arange(len(tokens)), torch.tensor(tokens)].sum()) / len(tokens)


def reference_greedy(model, tokenizer, prompt, pixels, max_new, eos):
    """tools/tinyllava_reference.py's own greedy loop, cut after the first `eos`."""
    tokens = ref.run(model, tokenizer, prompt, pixels, max_new)["tokens"].tolist()
    return tokens[:tokens.index(eos) + 1] if eos in tokens else tokens


def run_case(model, tokenizer, prompt, pixels, num_beams, max_new, eos):
    embeds = prompt_embeds(model, tokenizer, prompt, pixels)
    tokens, score, info = generate(model, embeds, num_beams, max_new, eos)
    # The same search without a KV cache (full recompute every step) must give the same result.
    tokens2, score2, _ = generate(model, embeds, num_beams, max_new, eos, use_cache=False)
    assert tokens == tokens2 and abs(score - score2) < 1e-5, (tokens, tokens2, score, score2)
    # HF's score is the best sequence's mean log-probability (EOS included, prompt not counted).
    assert abs(forced_score(model, embeds, tokens) - score) < 1e-4, (forced_score(model, embeds, tokens), score)
    greedy, _, _ = generate(model, embeds, 1, max_new, eos)
    assert greedy == reference_greedy(model, tokenizer, prompt, pixels, max_new, eos), greedy
    return tokens, score, info, greedy


def load(name):
    d = os.path.join(MODELS, name)
    model = ref.load(d)
    tokenizer = LlamaTokenizer(vocab_file=os.path.join(d, "tokenizer.model"), legacy=True)
    pixels = torch.from_numpy(np.load(os.path.join(d, "expected", "pixel_values.npy"))).float()
    return d, model, tokenizer, pixels.reshape(3, *pixels.shape[-2:])


SEARCH_PROMPTS = [PROMPT, TEXT_PROMPT, "What is in the image?", "Hello!", "Tell me a story.",
                  "Name three colors.", "Why is the sky blue?", "Count to five."]


def search_eos_cases(name):
    """Print candidate EOS cases: EOS = config's 2 or a token of the greedy output."""
    _, model, tokenizer, pixels = load(name)
    for prompt in SEARCH_PROMPTS:  # noqa: the search is slow (minutes), it is only for choosing EOS_CASES
        for image in (True, False):
            embeds = prompt_embeds(model, tokenizer, prompt, pixels if image else None)
            greedy, _, _ = generate(model, embeds, 1, MAX_NEW, CONFIG_EOS)
            for eos in [CONFIG_EOS] + sorted(set(greedy[1:])):
                for n in (2, 3, 4):
                    tokens, score, info = generate(model, embeds, n, MAX_NEW, eos)
                    if tokens[-1] == eos and len(tokens) < MAX_NEW:
                        print(f"{name} {prompt!r} image={image} eos={eos} beams={n}: {tokens} score {score:.4f} "
                              f"steps {info['steps']} margin {info['min_margin']:.3g} greedy {greedy}")


def main():
    torch.set_num_threads(os.cpu_count() or 1)
    if "--search" in sys.argv:
        for name in EOS_CASES:
            search_eos_cases(name)
        return
    os.makedirs(OUT, exist_ok=True)
    for name, eos_cases in EOS_CASES.items():
        d, model, tokenizer, pixels = load(name)
        specs = [(p, img, n, MAX_NEW, CONFIG_EOS) for p, img in ((PROMPT, True), (TEXT_PROMPT, False)) for n in (2, 4)]
        cases = []
        for prompt, image, n, max_new, eos in specs + eos_cases:
            tokens, score, info, greedy = run_case(model, tokenizer, prompt, pixels if image else None, n, max_new, eos)
            if eos == CONFIG_EOS:  # HF greedy == the committed expected tokens (first max_new of 16)
                expected = np.load(os.path.join(d, "expected" if image else "expected_text", "tokens.npy")).tolist()
                assert greedy == expected[:max_new], (greedy, expected)
            finished = tokens[-1] == eos
            if eos != CONFIG_EOS:
                assert finished and len(tokens) < max_new and tokens != greedy, (tokens, greedy)
            cases.append({"prompt": prompt, "image": image, "num_beams": n, "max_new_tokens": max_new,
                          "eos_token_id": eos, "pad_token_id": PAD, "length_penalty": 1.0, "early_stopping": False,
                          "tokens": tokens, "sequence_score": score, "greedy_tokens": greedy,
                          "finished_by_eos": finished, "steps": info["steps"],
                          "min_margin": float("%.3g" % info["min_margin"])})
            print(f"{name} {prompt!r} image={image} beams={n} eos={eos}: {tokens} score {score:.6f} "
                  f"steps {info['steps']} margin {info['min_margin']:.3g}; greedy {greedy}")
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            f.write("[\n" + ",\n".join("  " + json.dumps(c) for c in cases) + "\n]\n")


if __name__ == "__main__":
    main()
