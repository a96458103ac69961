#!/usr/bin/python3
"""Crafted-weight numeric tests: exact routing ties and capacity drops on purpose.

  /usr/bin/python3 tests/numeric/crafted.py --xfc build/xfc [--only moe_ties,mod_ties] [--workdir DIR]
                   [--weight-format f32|bf16|q8] [--cc clang,gcc]

Each case is a small model plus a function that edits random weights so that
router scores tie exactly (zero rows, identical rows, repeated tokens), so the
generated C must apply SPEC §3's tie rules (lower expert index, lower position,
lower unit) and capacity rule (rank-then-token order, drops contribute 0) to
agree with the reference. Each case also checks that the reference really met
the ties and drops it was built for. Every case holds its ties under each
`--weights` format (the values its ties rest on are their own w'); case
wfmt_ties crafts the matrices so that the weight formats' own rounding meets
ties: q8 elements exactly halfway between two steps of their block's scale
(in rows whose length is not a multiple of 32), and fp32 values exactly
halfway between two bfloat16.
"""
import argparse
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import run_numeric  # noqa: E402
import xfref  # noqa: E402


def _rand(m, seed):
    return xfref.random_weights(m, seed)


def moe_ties(m, seed):
    w = _rand(m, seed)
    rng = np.random.default_rng(seed)
    # block 0, sublayer 1: experts 0..2 tie at logit 0; experts 3 and 4 have
    # identical rows, so they tie with each other (3 wins, then 4 is second).
    r = np.zeros((5, m.dim), np.float32)
    r[3] = r[4] = rng.standard_normal(m.dim).astype(np.float32) / np.sqrt(m.dim)
    w["blocks.0.1.moe.router"] = r
    # block 0, sublayer 2: all-zero router: everyone picks experts 0, 1 with
    # equal gates; capacity keeps the first tokens only.
    w["blocks.0.2.moe.router"][:] = 0
    # block 1: experts 0 and 2 identical (0 wins), expert 1 the opposite.
    v = rng.standard_normal(m.dim).astype(np.float32) / np.sqrt(m.dim)
    w["blocks.1.0.moe.router"] = np.stack([v, -v, v])
    return w


MOE_TIES = """# crafted: exact MoE router ties and capacity drops
model c_moe {
  vocab = 23
  dim = 12
  context = 12
  block b {
    attention(heads = 2)
    moe(experts = 5, top_k = 2, hidden = 4, capacity = 0.5)
    moe(experts = 4, top_k = 2, hidden = 3, act = gelu, capacity = 0.75, renorm = false)
  }
  layers {
    b
    moe(experts = 3, top_k = 1, hidden = 4, capacity = 0.4)
  }
}
"""


def moe_drops(m, seed):
    w = _rand(m, seed)
    w["blocks.0.1.moe.router"][:] = 0                 # all three experts tie for every token
    v = np.random.default_rng(seed).standard_normal(m.dim).astype(np.float32)
    w["blocks.0.2.moe.router"] = np.stack([v, v])     # always expert 0
    return w


MOE_DROPS = """# crafted: heavy capacity drops (all assignments to the same experts)
model c_drop {
  vocab = 17
  dim = 8
  context = 10
  block b {
    attention(heads = 2)
    moe(experts = 3, top_k = 3, hidden = 4, capacity = 0.1)
    moe(experts = 2, top_k = 1, hidden = 3, act = relu, capacity = 0.3, renorm = false)
  }
  layers { b }
}
"""


def mod_ties(m, seed):
    w = _rand(m, seed)
    # instance 0: random router, but vocab = 3 and x = embed[t] there, so
    # repeated tokens tie exactly (lower position wins).
    # instance 1: zero router: every r = 0; the first k positions are routed;
    # decode_threshold -0.5 admits every decoded token (0 > -0.5).
    w["blocks.1.mod.router"][:] = 0
    # instance 2: zero router and decode_threshold 0: r = 0 is not > 0, so no
    # decoded token enters; with gate = sigmoid a wrong admission would show.
    w["blocks.2.mod.router"][:] = 0
    return w


MOD_TIES = """# crafted: exact MoD router ties (repeated tokens, zero routers), r == decode_threshold
model c_mod {
  vocab = 3
  dim = 8
  context = 11
  block d {
    attention(heads = 2)
    ffn(hidden = 6)
  }
  layers {
    mod(capacity = 0.5, gate = sigmoid) d
    mod(capacity = 0.3, gate = sigmoid, decode_threshold = -0.5) d
    mod(capacity = 0.6, gate = sigmoid) d
  }
}
"""


def sffn_ties(m, seed):
    w = _rand(m, seed)
    rng = np.random.default_rng(seed)
    c2 = w["blocks.0.0.sffn.c2"]
    c2[0:5] = 0                                     # group 0: all tie -> unit 0
    u = np.abs(rng.standard_normal(c2.shape[1])).astype(np.float32) + 0.5
    c2[5:10] = -u                                   # group 1: units 5, 7, 9 tie low ...
    c2[6] = c2[8] = u                               # ... units 6, 8 tie high
    w["blocks.2.0.sffn.c1"][:] = 0                  # controller input 0: every group picks its unit 0
    return w


SFFN_TIES = """# crafted: exact sparse_ffn controller ties
model c_sffn {
  vocab = 19
  dim = 12
  context = 9
  layers {
    sparse_ffn(hidden = 15, block = 5, lowrank = 3)
    attention(heads = 2)
    sparse_ffn(hidden = 12, block = 4)
  }
}
"""

def mod_threshold(m, seed):
    w = _rand(m, seed)
    # r = x[0] * fp32(0.1) in the first instance (position = rope, so x =
    # embed[t]; the router is fp32 in every format).  Tokens 0 and 1 have
    # x[0] = 1, which every format stores exactly (bf16 holds it, and their
    # rows' largest value 127/64 makes the q8 scale 1/64), so r == fp32(0.1):
    # not > decode_threshold = 0.1 read in fp32 (SPEC §3: all math is fp32);
    # token 2 is above, token 3 below.
    r = np.zeros((1, m.dim), np.float32)
    r[0, 0] = np.float32(0.1)
    w["blocks.0.mod.router"] = r
    w["embed"][:, 0] = np.array([1.0, 1.0, 3.0, -2.0], np.float32)
    w["embed"][0:2, 1] = np.float32(127.0 / 64.0)
    w["embed"][0:2, 2:] = np.clip(w["embed"][0:2, 2:], -1.9, 1.9)
    return w


MOD_THRESHOLD = """# crafted: MoD router value exactly equal to decode_threshold (fp32), and position ties
model c_thr {
  vocab = 4
  dim = 8
  context = 9
  block d {
    attention(heads = 2)
    ffn(hidden = 5)
  }
  layers {
    mod(capacity = 0.5, gate = sigmoid, decode_threshold = 0.1) d
    d
  }
}
"""

def wfmt_ties(m, seed):
    """Every matrix: even rows on a q8 grid with halves, odd rows bf16 ties;
    the fp32 routers and controller halfway between two bfloat16 throughout."""
    w = _rand(m, seed)
    rng = np.random.default_rng(seed + 17)
    for name in list(w):
        if not xfref.converts(name):
            if w[name].ndim == 2:                   # routers, controller: far from any w' grid,
                bits = w[name].view(np.uint32)      # so a format applied to them shows
                bits[:] = (bits & 0xFFFF0000) | 0x8000
            continue
        a = w[name].reshape(-1, w[name].shape[-1])
        cols = a.shape[1]
        unit = np.float32(2.0 ** (-7 if name == "embed" else -9))
        for r in range(0, a.shape[0], 2):           # q8: s = unit in each block
            for k in range(0, cols, xfref.Q8_BLOCK):
                n = min(xfref.Q8_BLOCK, cols - k)
                j = rng.integers(-126, 126, size=n).astype(np.float32) + np.float32(0.5)
                j[0] = 127.0 * rng.choice([-1.0, 1.0])
                a[r, k:k + n] = j * unit
        for r in range(1, a.shape[0], 2):           # bf16: low 16 bits exactly 0x8000
            bits = a[r].view(np.uint32)
            bits[:] = (bits & 0xFFFF0000) | 0x8000
        w[name] = a.reshape(w[name].shape)
    return w


def wfmt_tie_counts(m, w):
    """(q8 halves, bf16 ties) in the matrices of w: what case wfmt_ties must meet."""
    halves = ties = 0
    for name, a in w.items():
        if not xfref.converts(name):
            continue
        a = a.reshape(-1, a.shape[-1])
        ties += int(np.sum((a.view(np.uint32) & 0xFFFF) == 0x8000))
        for k in range(0, a.shape[1], xfref.Q8_BLOCK):
            blk = a[:, k:k + xfref.Q8_BLOCK]
            s = np.max(np.abs(blk), axis=1, keepdims=True) / np.float32(127.0)
            q = np.divide(blk, s, out=np.zeros_like(blk), where=s > 0)
            halves += int(np.sum(np.abs(q - np.trunc(q)) == 0.5))
    return halves, ties


WFMT_TIES = """# crafted: the weight formats' own ties (q8 halves, bf16 halfway values); rows of 40, 36 and 20
model c_wfmt {
  vocab = 23
  dim = 40
  context = 9
  block d {
    attention(heads = 2, kv_heads = 1)
    ffn(hidden = 36, act = swiglu)
  }
  layers {
    d
    mod(capacity = 0.5) d
    moe(experts = 3, top_k = 2, hidden = 20)
    sparse_ffn(hidden = 24, block = 6, lowrank = 5)
  }
}
"""

CASES = {
    # name: (text, weight editor, needs drops, needs exact routing ties)
    "moe_ties": (MOE_TIES, moe_ties, True, True),
    "moe_drops": (MOE_DROPS, moe_drops, True, True),
    "mod_ties": (MOD_TIES, mod_ties, False, True),
    "sffn_ties": (SFFN_TIES, sffn_ties, False, True),
    "mod_threshold": (MOD_THRESHOLD, mod_threshold, False, True),
    "wfmt_ties": (WFMT_TIES, wfmt_ties, False, False),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--xfc", required=True)
    ap.add_argument("--only")
    ap.add_argument("--workdir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--weight-format", choices=xfref.WEIGHT_FORMATS, default="f32")
    ap.add_argument("--cc", default="clang,gcc")
    a = ap.parse_args(argv)
    names = a.only.split(",") if a.only else list(CASES)
    workdir = a.workdir or tempfile.mkdtemp(prefix="xfnum_crafted_")
    results = []
    for name in names:
        text, edit, needs_drops, needs_ties = CASES[name]
        cdir = os.path.join(workdir, name)
        os.makedirs(cdir, exist_ok=True)
        xf = os.path.join(cdir, name + ".xf")
        with open(xf, "w") as f:
            f.write(text)
        res = run_numeric.run_model(xf, os.path.abspath(a.xfc), seed=a.seed, threads=[1, 2, 3],
                                    ccs=a.cc.split(","), workdir=cdir, prepare_weights=edit,
                                    label=f"crafted {name} (--weights {a.weight_format})",
                                    bad_inputs=False, weight_format=a.weight_format)
        if res.status != run_numeric.EXIT_FAIL:
            if edit is wfmt_ties:
                halves, ties = wfmt_tie_counts(xfref.parse_file(xf), edit(xfref.parse_file(xf), a.seed))
                print(f"   q8 halves: {halves}, bf16 ties: {ties}")
                if halves == 0 or ties == 0:
                    res.fail("the crafted weights hold no q8 half or no bf16 tie")
            if needs_ties and res.exact_ties == 0:
                res.fail("the crafted weights produced no exact tie in the reference")
            if needs_drops and res.drops == 0:
                res.fail("the crafted weights produced no capacity drop in the reference")
        run_numeric.print_result(res)
        results.append((name, res))
    bad = [n for n, r in results if r.status == run_numeric.EXIT_FAIL]
    inc = [n for n, r in results if r.status == run_numeric.EXIT_INCONCLUSIVE]
    print(f"crafted: {len(results) - len(bad) - len(inc)}/{len(results)} passed"
          + (f"; FAILED: {bad}" if bad else "") + (f"; INCONCLUSIVE: {inc}" if inc else ""))
    return 1 if bad else 77 if inc else 0


if __name__ == "__main__":
    sys.exit(main())
