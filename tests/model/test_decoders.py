"""The converter's decoder families against Hugging Face transformers' own
modules: small random LlamaForCausalLM (one with attention biases),
Qwen2ForCausalLM (q/k/v biases, tied) and MixtralForCausalLM checkpoints,
saved in Hugging Face's layout (safetensors; one variant sharded with an
index and stored as BF16), are converted by
tools/hf2xf.py, compiled by xfc, and the generated C's logits (forward, then
decode) are compared with the module's own logits computed in float64.

    VENV/bin/python tests/model/test_decoders.py --xfc build/xfc --workdir DIR

Pass: every output within 1e-4 * max(1, max |ref|).  The weights are drawn
large enough (std 1/sqrt(fan_in)) that RoPE matters: the same checkpoint
converted without the q/k row permutation must fail that tolerance, which
shows the permutation is what makes the rotate-half layout agree.
"""
import math
import os
import sys

import numpy as np

import common


def randomize(model, torch, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1]))


def reference(model, torch, prompt, extra):
    """float64 logits: the prompt's rows, then one row per decoded token."""
    torch.set_default_dtype(torch.float64)   # masks are built in the default dtype
    with torch.no_grad():
        full = model(torch.tensor([prompt + extra])).logits[0].numpy()
    torch.set_default_dtype(torch.float32)
    return [full[:len(prompt)]] + [full[len(prompt) + i][None, :] for i in range(len(extra))]


def check(tag, outs, refs):
    worst, ok = 0.0, True
    for c, r in zip(outs, refs):
        err, lim = common.max_err(c, r)
        worst = max(worst, err / lim * 1e-4)
        ok &= err <= lim
    print(f"{tag}: max err / max(1, max|ref|) {worst:.3g} (limit 1e-4): {'within' if ok else 'beyond'}")
    return ok, worst


def main(argv=None):
    a, work = common.test_args(argv, "xf_decoders_")
    import torch
    import transformers
    transformers.utils.logging.disable_progress_bar()
    from transformers import (LlamaConfig, LlamaForCausalLM, MixtralConfig, MixtralForCausalLM, Qwen2Config,
                              Qwen2ForCausalLM)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")

    common_cfg = dict(vocab_size=97, hidden_size=48, intermediate_size=80, num_hidden_layers=2,
                      num_attention_heads=4, max_position_embeddings=24, rms_norm_eps=1e-5)
    variants = [
        ("llama_gqa", LlamaForCausalLM,
         LlamaConfig(**common_cfg, num_key_value_heads=2, rope_theta=500.0, tie_word_embeddings=False,
                     attention_bias=True),
         {}),
        ("qwen2", Qwen2ForCausalLM,
         Qwen2Config(**common_cfg, num_key_value_heads=2, rope_theta=1e6, tie_word_embeddings=True,
                     use_sliding_window=False),
         {}),
        ("llama_tied", LlamaForCausalLM,
         LlamaConfig(**common_cfg, num_key_value_heads=1, rope_theta=10000.0, tie_word_embeddings=True),
         {"max_shard_size": "40KB", "bf16": True}),
        ("mixtral", MixtralForCausalLM,
         MixtralConfig(**common_cfg, num_key_value_heads=2, rope_theta=1000.0, num_local_experts=4,
                       num_experts_per_tok=2, sliding_window=None, tie_word_embeddings=False),
         {}),
    ]
    rng = np.random.default_rng(11)
    failures = 0
    for name, cls, cfg, opt in variants:
        d = os.path.join(work, name)
        hf_dir = os.path.join(d, "hf")
        os.makedirs(d, exist_ok=True)
        torch.manual_seed(0)
        model = cls(cfg).eval()
        randomize(model, torch, seed=len(name))
        if opt.get("bf16"):
            model = model.to(torch.bfloat16)
        model.save_pretrained(hf_dir, safe_serialization=True, max_shard_size=opt.get("max_shard_size", "10GB"))
        sharded = os.path.exists(os.path.join(hf_dir, "model.safetensors.index.json"))
        if opt.get("max_shard_size") and not sharded:
            print(f"{name}: FAIL: expected a sharded checkpoint")
            failures += 1
        # the reference reloads the saved checkpoint in float64 (BF16 values widen exactly,
        # as the converter widens them; RoPE tables are recomputed in float64)
        torch.set_default_dtype(torch.float64)
        model = cls.from_pretrained(hf_dir, torch_dtype=torch.float64).eval()
        torch.set_default_dtype(torch.float32)

        xf, weights = common.convert(hf_dir, d, name)
        exe = common.build(a.xfc, xf, d, name, cc=a.cc)
        prompt = rng.integers(0, cfg.vocab_size, size=9).tolist()
        extra = rng.integers(0, cfg.vocab_size, size=3).tolist()
        cmds = [("f", prompt)] + [("d", [t]) for t in extra]
        refs = reference(model, torch, prompt, extra)
        outs = common.forward(exe, weights, cmds, cfg.vocab_size, d)
        ok, _ = check(f"{name} ({'sharded, BF16, ' if sharded else ''}"
                      f"{'tied' if cfg.tie_word_embeddings else 'untied'}, kv_heads "
                      f"{cfg.num_key_value_heads})", outs, refs)
        failures += not ok

        # negative control: the same checkpoint without the q/k permutation must not match
        saved = common.hf2xf.rope_perm
        common.hf2xf.rope_perm = lambda heads, hd: np.arange(heads * hd)
        try:
            nd = os.path.join(d, "unpermuted")
            common.hf2xf.convert(hf_dir, nd, name)
        finally:
            common.hf2xf.rope_perm = saved
        bad = common.forward(exe, os.path.join(nd, name + ".safetensors"), cmds, cfg.vocab_size, d)
        bad_ok, worst = check(f"{name} without the q/k permutation (must not match)", bad, refs)
        if bad_ok:
            print(f"{name}: FAIL: unpermuted q/k rows also match, so the test cannot see the permutation")
            failures += 1
    n = len(variants) * 2
    print(f"{n - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
