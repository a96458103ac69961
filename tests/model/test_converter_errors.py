"""tools/hf2xf.py on checkpoints it cannot express: each must exit 1 with one
`hf2xf: error:` line naming the config key or tensor at fault, and write
nothing.  The checkpoints are tiny, written here in Hugging Face's layout.

    python3 tests/model/test_converter_errors.py [--workdir DIR]
"""
import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
HF2XF = os.path.join(HERE, "..", "..", "tools", "hf2xf.py")
sys.path.insert(0, os.path.dirname(HF2XF))
import hf2xf  # noqa: E402

LLAMA = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 11, "hidden_size": 8,
         "intermediate_size": 12, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
         "max_position_embeddings": 16, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "hidden_act": "silu",
         "tie_word_embeddings": False}
BERT = {"model_type": "bert", "architectures": ["BertModel"], "vocab_size": 11, "hidden_size": 8,
        "intermediate_size": 12, "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 16,
        "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu", "position_embedding_type": "absolute"}


def llama_tensors(c):
    D, F, V, hd = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["hidden_size"] // c["num_attention_heads"]
    KV = c["num_key_value_heads"] * hd
    t = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,), "lm_head.weight": (V, D)}
    p = "model.layers.0."
    t.update({p + "input_layernorm.weight": (D,), p + "post_attention_layernorm.weight": (D,),
              p + "self_attn.q_proj.weight": (D, D), p + "self_attn.k_proj.weight": (KV, D),
              p + "self_attn.v_proj.weight": (KV, D), p + "self_attn.o_proj.weight": (D, D),
              p + "mlp.gate_proj.weight": (F, D), p + "mlp.up_proj.weight": (F, D),
              p + "mlp.down_proj.weight": (D, F)})
    return t


def bert_tensors(c):
    D, F, V, P = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["max_position_embeddings"]
    t = {"embeddings.word_embeddings.weight": (V, D), "embeddings.position_embeddings.weight": (P, D),
         "embeddings.token_type_embeddings.weight": (2, D), "embeddings.LayerNorm.weight": (D,),
         "embeddings.LayerNorm.bias": (D,)}
    p = "encoder.layer.0."
    for s in ("query", "key", "value"):
        t[p + f"attention.self.{s}.weight"] = (D, D)
        t[p + f"attention.self.{s}.bias"] = (D,)
    t.update({p + "attention.output.dense.weight": (D, D), p + "attention.output.dense.bias": (D,),
              p + "attention.output.LayerNorm.weight": (D,), p + "attention.output.LayerNorm.bias": (D,),
              p + "intermediate.dense.weight": (F, D), p + "intermediate.dense.bias": (F,),
              p + "output.dense.weight": (D, F), p + "output.dense.bias": (D,),
              p + "output.LayerNorm.weight": (D,), p + "output.LayerNorm.bias": (D,)})
    return t


def make(d, cfg, shapes, config_text=None):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(config_text if config_text is not None else json.dumps(cfg))
    if shapes is not None:
        rng = np.random.default_rng(0)
        hf2xf.write_safetensors(os.path.join(d, "model.safetensors"),
                                [(n, "F32", rng.standard_normal(s).astype("<f4")) for n, s in shapes.items()])


def with_cfg(base, **kw):
    c = copy.deepcopy(base)
    c.update(kw)
    return c


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir")
    ap.add_argument("--xfc", help="also check that xfc accepts what the converter wrote")
    ap.add_argument("--cc")        # accepted for a uniform command line; unused
    a = ap.parse_args(argv)
    work = a.workdir or tempfile.mkdtemp(prefix="xf_hf2xf_err_")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    lt, bt = llama_tensors(LLAMA), bert_tensors(BERT)
    qbias = dict(lt, **{"model.layers.0.self_attn.q_proj.bias": (8,)})
    no_k = {k: v for k, v in lt.items() if "k_proj" not in k}
    bad_shape = dict(lt, **{"model.layers.0.self_attn.v_proj.weight": (8, 8)})
    # BertForMaskedLM-style names: a "bert." prefix, old LayerNorm gamma/beta, heads to ignore
    bert_mlm = {"bert." + k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
                for k, v in bt.items()}
    bert_mlm.update({"bert.pooler.dense.weight": (8, 8), "cls.predictions.bias": (11,)})
    moe_cfg = with_cfg(LLAMA, model_type="mixtral", num_local_experts=3, num_experts_per_tok=2)
    moe_t = {k: v for k, v in lt.items() if ".mlp." not in k}
    moe_t["model.layers.0.block_sparse_moe.gate.weight"] = (3, 8)
    for e in range(3):
        for w, sh in (("w1", (12, 8)), ("w3", (12, 8)), ("w2", (8, 12))):
            moe_t[f"model.layers.0.block_sparse_moe.experts.{e}.{w}.weight"] = sh
    moe_missing = {k: v for k, v in moe_t.items() if "experts.2.w3" not in k}
    # (name, config, tensors, extra args, what the message must contain)
    cases = [
        ("ok_llama", LLAMA, lt, [], None),
        ("ok_bert", BERT, bt, [], None),
        ("ok_mistral_window", with_cfg(LLAMA, model_type="mistral", sliding_window=8), lt,
         ["--context", "8"], None),
        ("ok_bert_mlm_names", with_cfg(BERT, architectures=["BertForMaskedLM"]), bert_mlm, [], None),
        ("ok_mixtral", moe_cfg, moe_t, [], None),
        ("mixtral_expert_missing", moe_cfg, moe_missing, [], "experts.2.w3.weight"),
        ("mixtral_top_k", with_cfg(moe_cfg, num_experts_per_tok=4), moe_t, [], "num_experts_per_tok 4"),
        ("architecture", with_cfg(LLAMA, model_type="gpt2", architectures=["GPT2LMHeadModel"]), lt, [],
         'model_type = "gpt2"'),
        ("rope_scaling", with_cfg(LLAMA, rope_scaling={"type": "linear", "factor": 2.0}), lt, [], "rope_scaling"),
        ("attention_bias_missing", with_cfg(LLAMA, attention_bias=True), lt, [],
         "no tensor model.layers.0.self_attn.q_proj.bias"),
        ("sliding_window", with_cfg(LLAMA, model_type="mistral", sliding_window=8), lt, [], "sliding_window"),
        ("hidden_act", with_cfg(LLAMA, hidden_act="gelu"), lt, [], "hidden_act"),
        ("gqa_divisible", with_cfg(LLAMA, num_key_value_heads=3), lt, [], "num_key_value_heads"),
        ("bert_relative", with_cfg(BERT, position_embedding_type="relative_key"), bt, [],
         "position_embedding_type"),
        ("bert_act", with_cfg(BERT, hidden_act="quick_gelu"), bt, [], "hidden_act"),
        ("bert_context", BERT, bt, ["--context", "17"], "max_position_embeddings"),
        ("leftover_bias", LLAMA, qbias, [], "model.layers.0.self_attn.q_proj.bias"),
        ("missing_tensor", LLAMA, no_k, [], "layers.0.self_attn.k_proj.weight"),
        ("wrong_shape", LLAMA, bad_shape, [], "model.layers.0.self_attn.v_proj.weight: shape [8, 8]"),
        ("missing_key", {k: v for k, v in LLAMA.items() if k != "hidden_size"}, lt, [], "missing hidden_size"),
        ("no_weights", LLAMA, None, [], "no model.safetensors"),
        ("bad_json", LLAMA, lt, [], "config.json"),
        ("bad_name", LLAMA, lt, ["--name", "9lives"], "--name"),
    ]
    failures = 0
    for name, cfg, shapes, extra, want in cases:
        d = os.path.join(work, name)
        make(d, cfg, shapes, config_text="{not json" if name == "bad_json" else None)
        out = os.path.join(work, name + "_out")
        r = subprocess.run([sys.executable, HF2XF, d, "-o", out, *extra], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        files = sorted(os.listdir(out)) if os.path.isdir(out) else []
        if want is None:
            ok = r.returncode == 0 and len(files) == 2
            why = f"exit {r.returncode}, wrote {files}: {r.stderr.strip()}"
            if ok and a.xfc:    # what the converter writes is a valid model
                xf = os.path.join(out, [f for f in files if f.endswith(".xf")][0])
                x = subprocess.run([a.xfc, xf, "--dump-ir"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
                ok, why = x.returncode == 0, f"xfc {xf}: {x.stderr.strip()}"
        else:
            lines = r.stderr.strip().splitlines()
            ok = (r.returncode == 1 and len(lines) == 1 and lines[0].startswith("hf2xf: error: ")
                  and want in lines[0] and not files and not r.stdout)
            why = f"exit {r.returncode}, stderr {r.stderr.strip()!r}, wrote {files}, expected {want!r}"
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {r.stderr.strip() or r.stdout.strip()}")
        if not ok:
            print(f"     {why}")
        failures += not ok
    print(f"{len(cases) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
