#!/usr/bin/python3
"""Self-checks for the reference (plain asserts). Run: /usr/bin/python3 tests/reference/test_xfref.py

- the parser applies SPEC §2's defaults and numbers block instances as §4 says;
- for causal models without mod and with capacity = 0, decode after
  forward(t[0..n)) equals forward(t[0..n+1)) at position n;
- the per-token loop versions (brute=True) of moe / sparse_ffn / mod /
  attention agree with the vectorized ones;
- crafted weights with exact ties pick the lower index, capacity drops follow
  rank-then-token order, and counts from decimal capacities are exact.
"""
import math
import os
import sys
import tempfile
import traceback
from fractions import Fraction

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402
import xfref  # noqa: E402

SPEC_EXAMPLE = """
# A Brainformer-style model with a Mixture-of-Depths routed block.
model tiny_brain {
  vocab   = 512
  dim     = 256
  context = 128                    # longest sequence a forward or the KV cache holds
  norm    = rmsnorm(eps = 1e-5)    # default norm for every sublayer and the final norm

  block brain {                    # a block is an ordered list of sublayers (a layer permutation)
    attention(heads = 4, kv_heads = 2, rope = 10000)
    moe(experts = 8, top_k = 2, hidden = 512, act = swiglu, capacity = 1.25)
    ffn(hidden = 1024, act = gelu)
    moe(experts = 8, top_k = 2, hidden = 512, act = swiglu)
  }

  block dense {
    attention(heads = 4)
    ffn(hidden = 1024, act = swiglu)
  }

  layers {
    brain * 2                      # two instances of `brain`
    repeat 2 {                     # MoD routing on every other block, as in the MoD paper
      mod(capacity = 0.125) dense  # only the top 12.5% of tokens enter this instance
      dense
    }
    sparse_ffn(hidden = 2048, block = 32, lowrank = 64)   # an inline sublayer is a one-sublayer block
  }
}
"""


def ref_for(text, seed=0, brute=False, weights=None):
    m = xfref.parse_text(text)
    w = weights if weights is not None else xfref.random_weights(m, seed)
    return m, w, xfref.Reference(m, w, brute=brute)


def close(a, b, tol=2e-5):
    a, b = np.asarray(a), np.asarray(b)
    err = float(np.max(np.abs(a - b)))
    lim = tol * max(1.0, float(np.max(np.abs(b))))
    return err <= lim, err


# ---------------------------------------------------------------- parser

def test_parse_spec_example():
    m = xfref.parse_text(SPEC_EXAMPLE)
    assert m.name == "tiny_brain" and (m.vocab, m.dim, m.context) == (512, 256, 128)
    assert [i.block_name for i in m.instances] == ["brain", "brain", "dense", "dense", "dense", "dense", None]
    assert [i.mod is not None for i in m.instances] == [False, False, True, False, True, False, False]
    assert m.instances[2].mod["capacity"] == Fraction(1, 8) and m.instances[2].mod["gate"] == "linear"
    assert m.instances[2].mod["decode_threshold"] == 0.0
    att = m.instances[0].subs[0]
    assert att.p == {"heads": 4, "kv_heads": 2, "head_dim": 64, "rope": 10000.0, "bidirectional": False,
                     "window": None, "bias": False}
    assert att.norm.kind == "rmsnorm" and att.norm.eps == 1e-5
    moe = m.instances[0].subs[1].p
    assert moe["capacity"] == Fraction(5, 4) and moe["renorm"] and moe["act"] == "swiglu"
    assert m.instances[0].subs[3].p["capacity"] == 0
    assert m.instances[2].subs[0].p["kv_heads"] == 4
    assert m.instances[2].subs[1].p == {"hidden": 1024, "act": "swiglu", "bias": False}
    sf = m.instances[6].subs[0].p
    assert sf == {"hidden": 2048, "block": 32, "lowrank": 64, "bias": True}
    names = [n for n, _, _ in xfref.weight_specs(m)]
    assert "blocks.2.mod.router" in names and "blocks.4.mod.router" in names
    assert "blocks.6.0.sffn.c1" in names and "blocks.6.0.sffn.b2" in names
    assert names[-2:] == ["norm.weight", "lm_head"]
    assert not m.has_bidirectional and m.has_mod and m.has_capacity


def test_parse_syntax_variants():
    text = """
    model v { vocab = 10; dim = 12, context = 7
      norm = layernorm      # call without parentheses
      residual = post; position = learned; tie_embeddings = true; final_norm = false
      block a { attention(heads = 3, kv_heads = 1, bias, window = 2); ffn(hidden = 5, act = relu2, bias = true,) }
      block b { ffn(hidden=4 act=silu norm=none) moe(experts=3 top_k=3 hidden=2 act=gelu_tanh renorm=false capacity=0.3) }
      layers { a; repeat 2 { b * 2 mod(capacity = 1, gate = sigmoid, decode_threshold = -0.25) a }
               sparse_ffn(hidden = 9, block = 3) attention(heads = 2, head_dim = 5, bidirectional) }
    }"""
    m = xfref.parse_text(text)
    assert m.norm.kind == "layernorm" and m.residual == "post" and m.position == "learned"
    assert m.tie_embeddings and not m.final_norm
    assert len(m.instances) == 1 + 2 * 3 + 2
    a = m.instances[0].subs[0].p
    assert a["head_dim"] == 4 and a["kv_heads"] == 1 and a["bias"] and a["window"] == 2 and a["rope"] is None
    b = m.instances[1].subs
    assert b[0].norm.kind == "none" and b[1].p["renorm"] is False and b[1].p["capacity"] == Fraction(3, 10)
    assert m.instances[3].mod == {"capacity": 1, "gate": "sigmoid", "decode_threshold": -0.25,
                                  "decode_threshold_text": "-0.25"}
    assert m.instances[7].subs[0].p["lowrank"] == 1          # max(1, 12 // 8)
    assert m.instances[8].subs[0].p["head_dim"] == 5 and m.has_bidirectional
    names = [n for n, _, _ in xfref.weight_specs(m)]
    assert "pos_embed" in names and "lm_head" not in names and "norm.weight" not in names
    assert "blocks.0.0.norm.bias" in names and "blocks.1.0.norm.weight" not in names
    assert "blocks.0.1.ffn.b1" in names and "blocks.0.1.ffn.w3" not in names
    assert "blocks.1.1.moe.w3" not in names
    # lowrank default is max(1, dim // 8)
    m2 = xfref.parse_text("model x { vocab=4 dim=20 context=3 layers { sparse_ffn(hidden=4, block=2, bias=false) } }")
    assert m2.instances[0].subs[0].p["lowrank"] == 2
    assert "blocks.0.0.sffn.b1" not in [n for n, _, _ in xfref.weight_specs(m2)]


def test_parse_errors():
    bad = [
        "model x { vocab=4 dim=8 context=3 layers { attention(heads=3) } }",            # dim % heads
        "model x { vocab=4 dim=8 context=3 layers { attention(heads=4, kv_heads=3) } }",
        "model x { vocab=4 dim=8 context=3 layers { attention(heads=2, head_dim=3) } }",  # odd under rope
        "model x { vocab=4 dim=8 context=3 position=learned layers { attention(heads=2, rope=100) } }",
        "model x { vocab=4 dim=8 context=3 layers { moe(experts=2, top_k=3, hidden=2) } }",
        "model x { vocab=4 dim=8 context=3 layers { sparse_ffn(hidden=6, block=4) } }",
        "model x { vocab=4 dim=8 context=3 block a { ffn(hidden=2) } layers { mod(capacity=0) a } }",
        "model x { vocab=4 dim=8 context=3 block a { ffn(hidden=2) } layers { mod(capacity=1.5) a } }",
        "model x { vocab=4 dim=8 context=3 block a { ffn(hidden=2) } layers { ffn(hidden=2) } }",   # unused
        "model x { vocab=4 dim=8 context=3 layers { b } }",
        "model x { vocab=4 dim=8 layers { ffn(hidden=2) } }",
        "model x { vocab=4 dim=8 context=3 layers { ffn(hidden=2, colour=3) } }",
        "model x { vocab=4 dim=8 context=3 layers { ffn() } }",
    ]
    for t in bad:
        try:
            xfref.parse_text(t)
        except xfref.XfRefError:
            continue
        raise AssertionError(f"accepted: {t}")
    # head_dim given: dim % heads not required; rope = none allowed anywhere
    xfref.parse_text("model x { vocab=4 dim=10 context=3 layers { attention(heads=3, head_dim=4) } }")
    xfref.parse_text("model x { vocab=4 dim=8 context=3 position=none layers { attention(heads=2, rope=none) } }")


def test_model_text_roundtrip():
    for text in [SPEC_EXAMPLE] + [t for _, t in DECODE_CONSISTENT] + BRUTE_MODELS:
        m = xfref.parse_text(text)
        m2 = xfref.parse_text(xfref.model_text(m))
        assert xfref.weight_specs(m) == xfref.weight_specs(m2)
        w = xfref.random_weights(m, 1)
        toks = list(range(min(m.context, m.vocab)))
        a = xfref.Reference(m, w).forward(toks)
        b = xfref.Reference(m2, w).forward(toks)
        assert np.array_equal(a, b)
        # a prefix keeps the weight names of the full model
        n = sum(len(i.subs) for i in m.instances)
        for k in range(1, n + 1):
            mk = xfref.parse_text(xfref.model_text(m, k))
            names = [x for x, _, _ in xfref.weight_specs(mk)]
            assert set(names) <= set(x for x, _, _ in xfref.weight_specs(m))
    assert xfref.frac_text(Fraction("0.125")) == "0.125" and xfref.frac_text(Fraction("1.25")) == "1.25"
    assert xfref.frac_text(Fraction("0.3")) == "0.3" and xfref.frac_text(Fraction(2)) == "2"


def test_exact_capacity():
    assert xfref.ceil_frac(Fraction("0.3") * 50) == 15
    assert xfref.ceil_frac(Fraction("0.125") * 9) == 2
    assert xfref.ceil_frac(Fraction("1") * 7) == 7
    assert xfref.ceil_frac(Fraction("0.1") * 30) == 3
    assert xfref.ceil_frac(Fraction("1.25") * 10 * 2 / 8) == 4
    assert xfref.ceil_frac(Fraction("1e-1") * 30) == 3


def test_stable_order():
    o = xfref.stable_order_desc(np.array([1.0, 3.0, 3.0, -0.0, 0.0, 3.0], dtype=np.float32))
    assert o.tolist() == [1, 2, 5, 0, 3, 4]


def test_safetensors_roundtrip():
    with tempfile.TemporaryDirectory() as d:
        t = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b.c": np.ones((1,), np.float32)}
        for mis in (False, True):
            p = os.path.join(d, "w.st")
            st_io.write(p, t, metadata={"x": 1}, misalign=mis)
            hdr, start = st_io.read_header(p)
            assert (start % 4 != 0) == mis
            r = st_io.read(p)
            assert set(r) == {"a", "b.c"} and np.array_equal(r["a"], t["a"])


def test_safetensors_bf16_f16():
    """BF16 and F16 files: written rounded to nearest even, read back exactly."""
    with tempfile.TemporaryDirectory() as d:
        rng = np.random.default_rng(3)
        a = rng.standard_normal((3, 7)).astype(np.float32)
        a[0, 0] = np.float32(1.0 + 2.0 ** -8)            # a bfloat16 tie: to 1.0 (even)
        a[0, 1] = np.float32(1.0 + 3 * 2.0 ** -8)        # a tie: up to 1 + 2^-6 (even)
        for dt, mis in (("BF16", False), ("BF16", True), ("F16", True)):
            p = os.path.join(d, "w.st")
            st_io.write(p, {"a": a, "b": a[1]}, misalign=mis, dtype=dt)
            hdr, start = st_io.read_header(p)
            assert hdr["a"]["dtype"] == dt and (start % 2 == 1) == mis
            r = st_io.read(p)
            assert r["a"].dtype == np.float32
            want = (torch.from_numpy(a).to(torch.bfloat16).float().numpy() if dt == "BF16"
                    else a.astype(np.float16).astype(np.float32))
            assert np.array_equal(r["a"], want) and np.array_equal(r["b"], want[1])
            if dt == "BF16":
                assert r["a"][0, 0] == 1.0 and r["a"][0, 1] == np.float32(1.0 + 2.0 ** -6)


# ---------------------------------------------------------------- weight formats

def test_converts_exactly_the_matrices():
    matrices = ("embed", "lm_head", "attn.wq", "attn.wk", "attn.wv", "attn.wo", "ffn.w1", "ffn.w2",
                "ffn.w3", "moe.w1", "moe.w2", "moe.w3", "sffn.w1", "sffn.w2")
    seen = set()
    for text in [t for _, t in DECODE_CONSISTENT] + [SPEC_EXAMPLE]:
        for name, _, _ in xfref.weight_specs(xfref.parse_text(text)):
            parts = name.split(".")
            tail = name if parts[0] != "blocks" else ".".join(parts[2:] if parts[2] == "mod" else parts[3:])
            seen.add(tail)
            assert xfref.converts(name) == (tail in matrices), name
    # every kind of tensor was looked at, the fp32 ones included
    for keep in ("moe.router", "mod.router", "sffn.c1", "sffn.c2", "norm.weight", "attn.bq", "ffn.b1"):
        assert keep in seen, keep
    assert not xfref.converts("pos_embed") and not xfref.converts("blocks.0.mod.router")


def test_bf16_round():
    """Bit arithmetic against torch's own float32 -> bfloat16 conversion, with ties."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(20000).astype(np.float32) * np.float32(10.0) ** rng.integers(-30, 30, 20000)
    bits = x.view(np.uint32)
    bits[:5000] = (bits[:5000] & 0xFFFF0000) | 0x8000            # exact ties
    bits[5000:6000] = (bits[5000:6000] & 0xFFFF0000) | 0x7FFF
    x = bits.view(np.float32)
    x = x[np.isfinite(x) & (np.abs(x) < 3e38)]
    t = torch.from_numpy(x.copy())
    got = xfref.bf16_round(t)
    assert torch.equal(got, t.to(torch.bfloat16).to(torch.float32))
    assert np.array_equal(got.numpy().view(np.uint32) & 0xFFFF, np.zeros(x.size, np.uint32))
    one = torch.tensor([1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8, -(1.0 + 2.0 ** -8)], dtype=torch.float32)
    assert xfref.bf16_round(one).tolist() == [1.0, 1.0 + 2.0 ** -6, -1.0]
    assert torch.isnan(xfref.bf16_round(torch.tensor([float("nan")]))).all()


def test_q8_values():
    """Per-row blocks of 32 (the last shorter), s = max/127, halves away from zero."""
    # row 0: s = 1 exactly (max 127): 2.5 -> 3, -2.5 -> -3, 0.5 -> 1, 1.5 -> 2
    row0 = np.zeros(40, np.float32)
    row0[:6] = [127.0, 2.5, -2.5, 0.5, 1.5, -0.49999997]
    row0[32:36] = [-127.0, 3.5, 126.5, 0.0]          # the short block: its own s = 1
    row1 = np.zeros(40, np.float32)                   # an all-zero first block: s = 0
    row1[32:] = 254.0                                 # second block: s = 2, q = 127
    w = torch.from_numpy(np.stack([row0, row1]))
    v = xfref.q8_values(w).numpy()
    assert v[0, :6].tolist() == [127.0, 3.0, -3.0, 1.0, 2.0, -0.0]
    assert v[0, 32:36].tolist() == [-127.0, 4.0, 127.0, 0.0]
    assert np.all(v[1, :32] == 0) and np.all(v[1, 32:] == 254.0)
    # blocks never cross a row end: a 3-D stack [e, o, :] converts row by row
    rng = np.random.default_rng(2)
    stack = torch.from_numpy(rng.standard_normal((3, 4, 45)).astype(np.float32))
    vs = xfref.q8_values(stack)
    for e in range(3):
        for o in range(4):
            assert torch.equal(vs[e, o], xfref.q8_values(stack[e, o][None, :])[0])
            r = stack[e, o]
            for k in (0, 32):
                blk = r[k:k + 32]
                s = blk.abs().max() / 127.0
                assert float((vs[e, o, k:k + 32] - blk).abs().max()) <= float(s) * 0.5000001
    # the scale is an fp32 division and the value an fp32 product
    s = np.float32(np.float32(0.3) / np.float32(127.0))
    one = torch.tensor([[0.3, 0.1]], dtype=torch.float32)
    q1 = np.float32(np.round(np.float32(0.1) / s))
    assert xfref.q8_values(one).tolist()[0] == [float(np.float32(127.0) * s), float(q1 * s)]


def test_weight_formats_in_reference():
    """A tied model: the gather and the head both read embed's w'; routers stay fp32."""
    text = """model m { vocab = 19 dim = 40 context = 6 tie_embeddings = true
        layers { attention(heads = 2) moe(experts = 3, top_k = 1, hidden = 36) } }"""
    m = xfref.parse_text(text)
    w = xfref.random_weights(m, 4)
    for fmt in ("bf16", "q8"):
        ref = xfref.Reference(m, w, weight_format=fmt)
        conv = xfref.bf16_round if fmt == "bf16" else xfref.q8_values
        e = torch.from_numpy(w["embed"])
        assert torch.equal(ref.w["embed"], conv(e))
        assert torch.equal(ref.w["blocks.1.0.moe.router"], torch.from_numpy(w["blocks.1.0.moe.router"]))
        assert torch.equal(ref.w["blocks.1.0.moe.w2"], conv(torch.from_numpy(w["blocks.1.0.moe.w2"])))
        assert not torch.equal(ref.w["blocks.0.0.attn.wq"], torch.from_numpy(w["blocks.0.0.attn.wq"]))
        # with the converted weights given as f32, the same logits
        w2 = {k: v.numpy() for k, v in ref.w.items()}
        a = ref.forward([1, 2, 3])
        b = xfref.Reference(m, w2).forward([1, 2, 3])
        assert np.array_equal(a, b)
    assert xfref.weight_bytes(m, "bf16") == xfref.weight_bytes(m, "f32") - 2 * sum(
        int(np.prod(s)) for n, s, _ in xfref.weight_specs(m) if xfref.converts(n))
    assert xfref.weight_bytes(m, "f32") - xfref.weight_bytes(m, "q8") == sum(
        3 * int(np.prod(s)) - 4 * (int(np.prod(s)) // s[-1]) * (-(-s[-1] // 32))
        for n, s, _ in xfref.weight_specs(m) if xfref.converts(n))


# ---------------------------------------------------------------- decode == forward

DECODE_CONSISTENT = [
    # (name, model text)
    ("plain", """model m { vocab = 23 dim = 12 context = 9
        layers { attention(heads = 2) ffn(hidden = 7) } }"""),
    ("gqa_window_bias", """model m { vocab = 19 dim = 15 context = 11
        block a { attention(heads = 3, kv_heads = 1, head_dim = 4, window = 3, bias = true) ffn(hidden = 5, act = swiglu, bias) }
        layers { a * 2 } }"""),
    ("headdim_rope_variants", """model m { vocab = 17 dim = 10 context = 8
        block a { attention(heads = 3, head_dim = 6, kv_heads = 3, rope = 500) attention(heads = 2, rope = none) }
        layers { a ffn(hidden = 6, act = geglu) } }"""),
    ("learned_post_layernorm_tied", """model m { vocab = 21 dim = 9 context = 7
        norm = layernorm(eps = 1e-6) residual = post position = learned tie_embeddings = true
        layers { attention(heads = 3) ffn(hidden = 11, act = gelu_tanh) ffn(hidden = 4, act = relu2, norm = rmsnorm) } }"""),
    ("nopos_nonorm", """model m { vocab = 13 dim = 8 context = 6 position = none norm = none final_norm = false
        layers { attention(heads = 2, kv_heads = 2, window = 1) ffn(hidden = 3, act = relu) ffn(hidden = 3, act = silu) } }"""),
    ("moe_sffn_dropless", """model m { vocab = 29 dim = 14 context = 10
        block b { attention(heads = 2, head_dim = 4) moe(experts = 5, top_k = 2, hidden = 6) moe(experts = 3, top_k = 3, hidden = 4, act = relu, renorm = false) }
        layers { b sparse_ffn(hidden = 12, block = 5 + 1) } }""".replace("5 + 1", "6")),
]


def _decode_matches(text, seed, n, steps):
    m, w, ref = ref_for(text, seed)
    rng = np.random.default_rng(seed + 100)
    toks = rng.integers(0, m.vocab, size=n + steps).tolist()
    full = ref.forward(toks)
    ref.forward(toks[:n])
    for i in range(steps):
        row = ref.decode(toks[n + i])
        ok, err = close(row, full[n + i])
        assert ok, f"decode at position {n + i}: err {err}"
    # from an empty cache
    ref.reset()
    for i in range(min(3, len(toks))):
        row = ref.decode(toks[i])
        ok, err = close(row, full[i])
        assert ok, f"decode from empty at {i}: err {err}"
    return m


def test_decode_equals_forward():
    for name, text in DECODE_CONSISTENT:
        m = xfref.parse_text(text)
        for n in (1, m.context // 2, m.context - 2):
            _decode_matches(text, 3, n, m.context - n)


def test_decode_mod_all_routed_and_moe_no_drop():
    # MoD with capacity 1 routes every token at forward; a threshold below every
    # router value admits every token at decode: decode must equal forward.
    # MoE capacity = experts / top_k gives C = T: no drops, so it equals dropless.
    text = """model m { vocab = 31 dim = 12 context = 9
      block d { attention(heads = 2) moe(experts = 3, top_k = 2, hidden = 5, capacity = 1.5) }
      layers { mod(capacity = 1, gate = sigmoid, decode_threshold = -1e30) d  d } }"""
    _decode_matches(text, 5, 4, 5)


def test_decode_mod_cache_holds_routed_only():
    # A MoD instance first in the model (position = rope: x = embed[t]), so the
    # router value of each token is embed[t] . w_r and can be computed here.
    text = """model m { vocab = 40 dim = 8 context = 12
      block d { attention(heads = 2, window = 5) ffn(hidden = 6) }
      layers { mod(capacity = 0.5, decode_threshold = 0.05) d } }"""
    m, w, ref = ref_for(text, 4)
    r_of = w["embed"] @ w["blocks.0.mod.router"][0]
    rng = np.random.default_rng(9)
    toks = rng.integers(0, m.vocab, size=m.context).tolist()
    n = 5
    ref.forward(toks[:n])
    k = math.ceil(0.5 * n)
    order = sorted(range(n), key=lambda i: (-r_of[toks[i]], i))
    routed = sorted(order[:k])
    admitted_any = rejected_any = False
    for p in range(n, m.context):
        row = ref.decode(toks[p])
        x = torch.from_numpy(w["embed"][toks[p]])[None]
        if r_of[toks[p]] > 0.05:
            admitted_any = True
            routed.append(p)
            fresh = xfref.Reference(m, w)
            xs = torch.from_numpy(w["embed"][[toks[i] for i in routed]])
            y = fresh._block(0, m.instances[0], xs, np.array(routed), "t")[-1:]
            x = x + float(r_of[toks[p]]) * (y - x)
        else:
            rejected_any = True
        want = fresh._head(x)[0].numpy() if r_of[toks[p]] > 0.05 else xfref.Reference(m, w)._head(x)[0].numpy()
        ok, err = close(row, want)
        assert ok, f"position {p}: err {err}"
    assert admitted_any and rejected_any


def test_decode_errors():
    m, w, ref = ref_for("""model m { vocab = 5 dim = 4 context = 3 layers { attention(heads = 1, bidirectional) } }""")
    ref.forward([1, 2])
    for bad in (lambda: ref.decode(1), lambda: ref.forward([]), lambda: ref.forward([5]),
                lambda: ref.forward([0, 0, 0, 0])):
        try:
            bad()
        except xfref.XfRefError:
            continue
        raise AssertionError("no error")
    m, w, ref = ref_for("""model m { vocab = 5 dim = 4 context = 3 layers { attention(heads = 1) } }""")
    ref.forward([1, 2, 3])
    try:
        ref.decode(1)
        raise AssertionError("decode on a full cache")
    except xfref.XfRefError:
        pass


# ---------------------------------------------------------------- brute == vectorized

BRUTE_MODELS = [
    """model m { vocab = 37 dim = 11 context = 13
      block r { attention(heads = 1, head_dim = 6, window = 4) moe(experts = 5, top_k = 2, hidden = 3, capacity = 0.5)
                moe(experts = 3, top_k = 3, hidden = 4, act = geglu, capacity = 0.3, renorm = false) }
      layers { mod(capacity = 0.4) r  r  sparse_ffn(hidden = 21, block = 7, lowrank = 3) } }""",
    """model m { vocab = 23 dim = 9 context = 10 residual = post norm = layernorm
      block r { attention(heads = 3, kv_heads = 1, head_dim = 4, bidirectional, window = 3) moe(experts = 4, top_k = 1, hidden = 3, act = silu, capacity = 1) }
      layers { mod(capacity = 0.7, gate = sigmoid) r  sparse_ffn(hidden = 10, block = 1, bias = false) r } }""",
    """model m { vocab = 23 dim = 9 context = 10 position = learned
      block r { attention(heads = 3) moe(experts = 7, top_k = 3, hidden = 2, act = relu) }
      layers { mod(capacity = 0.25, decode_threshold = -0.1) r  mod(capacity = 1, gate = sigmoid) r sparse_ffn(hidden = 9, block = 9) } }""",
]


def test_brute_matches_vectorized():
    for i, text in enumerate(BRUTE_MODELS):
        for seed in (1, 2):
            m, w, fast = ref_for(text, seed)
            slow = xfref.Reference(m, w, brute=True)
            rng = np.random.default_rng(seed)
            for T in (1, 3, m.context):
                toks = rng.integers(0, m.vocab, size=T).tolist()
                a, b = fast.forward(toks), slow.forward(toks)
                ok, err = close(a, b)
                assert ok, f"model {i} seed {seed} T {T}: forward err {err}"
                if not m.has_bidirectional:
                    for _ in range(min(3, m.context - T)):
                        t = int(rng.integers(0, m.vocab))
                        ok, err = close(fast.decode(t), slow.decode(t))
                        assert ok, f"model {i} seed {seed}: decode err {err}"


def test_moe_drops_happen():
    m, w, ref = ref_for(BRUTE_MODELS[0], 1)
    ref.forward(list(range(m.context)))
    assert sum(ref.stats["moe drops"]) > 0


# ---------------------------------------------------------------- crafted ties

def test_moe_tie_lower_expert_and_drops():
    text = """model m { vocab = 7 dim = 6 context = 8
      layers { moe(experts = 4, top_k = 2, hidden = 3, capacity = 0.5, renorm = false, norm = none) } }"""
    m = xfref.parse_text(text)
    w = xfref.random_weights(m, 0)
    r = np.zeros((4, 6), np.float32)
    r[3] = w["blocks.0.0.moe.router"][3]          # expert 3 random, 0..2 tie at logit 0
    w["blocks.0.0.moe.router"] = r
    ref = xfref.Reference(m, w)
    T = 6
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((T, 6)).astype(np.float32))
    p = m.instances[0].subs[0].p
    probs, sel, keep = ref._moe_route(p, x, "blocks.0.0.", "t")
    lg = (x @ torch.from_numpy(r[3])).numpy()
    for t in range(T):
        if lg[t] > 0:      # expert 3 first, then the lowest of the tied 0, 1, 2
            assert sel[t].tolist() == [3, 0], sel[t]
        else:
            assert sel[t].tolist() == [0, 1], sel[t]
    # C = ceil(0.5 * 6 * 2 / 4) = 2: rank-0 assignments in token order fill first.
    C = 2
    used = {}
    for rank in range(2):
        for t in range(T):
            e = sel[t, rank]
            used[e] = used.get(e, 0) + 1
            assert keep[t, rank] == (used[e] <= C)
    assert not keep.all()
    assert any(tie.exact for tie in ref.ties)
    # all-zero router: every token picks experts 0, 1; expert 0 keeps tokens 0, 1 only
    w["blocks.0.0.moe.router"] = np.zeros((4, 6), np.float32)
    ref = xfref.Reference(m, w)
    probs, sel, keep = ref._moe_route(p, x, "blocks.0.0.", "t")
    assert (sel == [0, 1]).all()
    assert keep[:, 0].tolist() == [True, True, False, False, False, False]
    assert keep[:, 1].tolist() == [True, True, False, False, False, False]
    # brute agrees on the whole output
    slow = xfref.Reference(m, w, brute=True)
    ok, err = close(ref._moe(p, x, "blocks.0.0.", "t"), slow._moe_brute(p, x, "blocks.0.0.", "t"))
    assert ok, err


def test_mod_tie_lower_position():
    text = """model m { vocab = 5 dim = 6 context = 9
      block d { ffn(hidden = 3) }
      layers { mod(capacity = 0.5, gate = sigmoid) d } }"""
    m = xfref.parse_text(text)
    w = xfref.random_weights(m, 0)
    w["blocks.0.mod.router"] = np.zeros((1, 6), np.float32)
    seen = []
    for brute in (False, True):
        ref = xfref.Reference(m, w, brute=brute)
        orig = ref._block
        ref._block = lambda b, ins, x, pos, where, orig=orig: (seen.append(list(pos)), orig(b, ins, x, pos, where))[1]
        ref.forward([1, 2, 3, 4, 0, 1, 2])                  # k = ceil(3.5) = 4
        assert seen[-1] == [0, 1, 2, 3], seen
    # repeated tokens tie on the router with a random router: the earlier wins
    w = xfref.random_weights(m, 1)
    ref = xfref.Reference(m, w)
    orig = ref._block
    ref._block = lambda b, ins, x, pos, where: (seen.append(list(pos)), orig(b, ins, x, pos, where))[1]
    r = (w["embed"] @ w["blocks.0.mod.router"][0])
    hi = int(np.argmax(r))
    lo = int(np.argmin(r))
    ref.forward([lo, hi, lo, hi, lo])                   # k = 3: both hi, then the first lo
    assert seen[-1] == [0, 1, 3], seen


def test_sffn_tie_lower_unit():
    text = """model m { vocab = 5 dim = 6 context = 4 layers { sparse_ffn(hidden = 12, block = 4, lowrank = 2) } }"""
    m = xfref.parse_text(text)
    w = xfref.random_weights(m, 0)
    c2 = w["blocks.0.0.sffn.c2"].copy()
    c2[0:4] = 0                   # group 0: all tie -> unit 0
    c2[5] = c2[6] = np.abs(c2[5]) + 1   # group 1: units 5, 6 identical
    c2[4] = c2[7] = -c2[5]
    w["blocks.0.0.sffn.c2"] = c2
    ref = xfref.Reference(m, w)
    x = torch.from_numpy(np.random.default_rng(3).standard_normal((3, 6)).astype(np.float32))
    units = ref._sffn_select(m.instances[0].subs[0].p, x, "blocks.0.0.", "t")
    assert (units[:, 0] == 0).all()
    h = (x @ torch.from_numpy(w["blocks.0.0.sffn.c1"]).t()) @ torch.from_numpy(c2[5])
    for t in range(3):
        assert units[t, 1] == (5 if h[t] > 0 else 4), (units[t], h[t])
    slow = xfref.Reference(m, w, brute=True)
    p = m.instances[0].subs[0].p
    ok, err = close(ref._sffn(p, x, "blocks.0.0.", "t"), slow._sffn_brute(p, x, "blocks.0.0.", "t"))
    assert ok, err


# ---------------------------------------------------------------- RoPE / attention properties

def test_rope_relative():
    # q·k after RoPE depends only on the position difference.
    rng = np.random.default_rng(0)
    q = torch.from_numpy(rng.standard_normal((1, 1, 8)).astype(np.float32))
    k = torch.from_numpy(rng.standard_normal((1, 1, 8)).astype(np.float32))
    d0 = (xfref.apply_rope(q, [5], 100.0) * xfref.apply_rope(k, [2], 100.0)).sum()
    d1 = (xfref.apply_rope(q, [13], 100.0) * xfref.apply_rope(k, [10], 100.0)).sum()
    assert abs(float(d0 - d1)) < 1e-5
    # position 0 is the identity; pair (0, 1) at p = 1 rotates by 1 radian
    assert torch.equal(xfref.apply_rope(q, [0], 100.0), q)
    r = xfref.apply_rope(torch.tensor([[[1.0, 0.0]]]), [1], 10.0)
    assert abs(float(r[0, 0, 0]) - math.cos(1)) < 1e-7 and abs(float(r[0, 0, 1]) - math.sin(1)) < 1e-7


def test_window_semantics():
    # window = 1 with causal attention: each token sees only itself, so the
    # attention output is v_i Wo^T for every i.
    text = "model m { vocab = 9 dim = 4 context = 5 final_norm = false norm = none layers { attention(heads = 1, window = 1, rope = none) } }"
    m, w, ref = ref_for(text, 2)
    toks = [1, 2, 3, 4]
    out = ref.forward(toks)
    x = w["embed"][toks]
    y = x + (x @ w["blocks.0.0.attn.wv"].T) @ w["blocks.0.0.attn.wo"].T
    ok, err = close(out, y @ w["lm_head"].T)
    assert ok, err


def main():
    tests = [(k, v) for k, v in sorted(globals().items()) if k.startswith("test_") and callable(v)]
    failed = 0
    for name, fn in tests:
        try:
            fn()
            print(f"PASS {name}")
        except Exception:
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
    print(f"{len(tests) - failed}/{len(tests)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
