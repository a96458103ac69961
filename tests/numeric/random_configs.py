#!/usr/bin/python3
"""Deterministic randomized small configurations, run through run_numeric.

  /usr/bin/python3 tests/numeric/random_configs.py --xfc build/xfc [--shard 0/5] [--count 20]
                   [--seed 2024] [--workdir DIR] [--only 3,7] [--list] [--write DIR]
                   [--weight-format f32|bf16|q8]

Config i is generated from random.Random(seed * 1000 + i), so a failure is
reproduced with `--only i` (and `--write DIR` leaves the .xf files in DIR).
The configurations cover, on purpose rather than by luck: odd dims that are not
multiples of 8, kv_heads = 1, contexts that are not powers of two, windows,
biases, every activation, layernorm / none, post residual, learned / no
positions, tied embeddings, no final norm, embed_norm, head = none (pre and post residual); odd expert counts, top_k = experts,
capacities that force drops, MoD capacities giving k = 1 and k = T, sparse_ffn
block sizes that do not divide 8. --list prints the coverage table.
Under --weight-format bf16 (q8) configurations 8-15, 24-31, ... read a BF16
(F16) weights file, the rest F32.
"""
import argparse
import os
import random
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import run_numeric  # noqa: E402
import xfref  # noqa: E402

ACTS = ["relu", "relu2", "gelu", "gelu_tanh", "silu", "swiglu", "geglu"]
ODD_DIMS = [6, 10, 12, 14, 18, 20, 22, 26, 30, 9, 15, 21]
CONTEXTS = [5, 6, 7, 9, 11, 12, 13, 17]


class Gen:
    """Builds one model's text and remembers which features it used."""

    def __init__(self, i, seed):
        self.i = i
        self.r = random.Random(seed * 1000 + i)
        self.features = set()

    def sep(self):
        return self.r.choice([", ", " ", ", ", "; "])

    def args(self, pairs):
        out = []
        for k, v in pairs:
            if v is True and self.r.random() < 0.5:
                out.append(k)                       # bare flag
            else:
                out.append(f"{k} = {str(v).lower() if isinstance(v, bool) else v}")
        return self.sep().join(out)

    def attention(self, dim, position, force=None):
        r = self.r
        f = force or {}
        heads = f.get("heads", r.choice([1, 2, 3, 4]))
        kv = f.get("kv_heads", r.choice([d for d in range(1, heads + 1) if heads % d == 0]))
        pairs = [("heads", heads)]
        if kv != heads or r.random() < 0.3:
            pairs.append(("kv_heads", kv))
        if kv == 1:
            self.features.add("kv_heads=1")
        if kv != heads:
            self.features.add("gqa")
        rope = position == "rope" and not f.get("no_rope") and r.random() < 0.9
        hd_default = dim // heads if dim % heads == 0 else None
        if hd_default is None or (rope and hd_default % 2) or r.random() < 0.25:
            hd = r.choice([2, 4, 6, 8]) if rope else r.choice([3, 4, 5, 7])
            pairs.append(("head_dim", hd))
            self.features.add("head_dim")
        if position == "rope":
            if not rope:
                pairs.append(("rope", "none"))
                self.features.add("rope=none")
            elif r.random() < 0.4:
                pairs.append(("rope", r.choice([100, 500, "1e4", 10000.0])))
        if f.get("bidirectional"):
            pairs.append(("bidirectional", True))
            self.features.add("bidirectional")
        w = f.get("window", r.choice([None, None, 1, 2, 3, 5]))
        if w:
            pairs.append(("window", w))
            self.features.add("window")
        if f.get("bias", r.random() < 0.35):
            pairs.append(("bias", True))
            self.features.add("attn-bias")
        return f"attention({self.args(pairs)}{self.norm_override()})"

    def ffn(self, act=None):
        r = self.r
        act = act or r.choice(ACTS)
        self.features.add("act=" + act)
        pairs = [("hidden", r.choice([3, 5, 7, 9, 12]))]
        if act != "gelu" or r.random() < 0.5:
            pairs.append(("act", act))
        if r.random() < 0.4:
            pairs.append(("bias", True))
            self.features.add("ffn-bias")
        return f"ffn({self.args(pairs)}{self.norm_override()})"

    def moe(self, force=None):
        r = self.r
        f = force or {}
        e = f.get("experts", r.choice([3, 5, 7, 2, 4]))
        k = f.get("top_k", r.choice([1, 2, e]) if e > 2 else r.choice([1, e]))
        k = min(k, e)
        self.features.add("experts-odd" if e % 2 else "experts-even")
        if k == e:
            self.features.add("top_k=experts")
        pairs = [("experts", e), ("top_k", k), ("hidden", r.choice([2, 3, 5, 6]))]
        act = f.get("act", r.choice(ACTS + ["swiglu"]))
        if act != "swiglu" or r.random() < 0.3:
            pairs.append(("act", act))
        self.features.add("moe-act=" + act)
        cap = f.get("capacity", r.choice(["0", None, "0.3", "0.5", "1", "1.25", "0.75"]))
        if cap is not None and (cap != "0" or r.random() < 0.5):
            pairs.append(("capacity", cap))
        if cap not in (None, "0"):
            self.features.add("moe-capacity")
        if f.get("renorm", r.random() < 0.7) is False:
            pairs.append(("renorm", False))
            self.features.add("renorm=false")
        return f"moe({self.args(pairs)}{self.norm_override()})"

    def sffn(self, force=None):
        r = self.r
        f = force or {}
        b = f.get("block", r.choice([3, 5, 6, 7, 1, 2]))
        hidden = b * r.choice([1, 2, 3, 5])
        pairs = [("hidden", hidden), ("block", b)]
        if 8 % b:
            self.features.add("sffn-block-not-dividing-8")
        if r.random() < 0.5:
            pairs.append(("lowrank", r.choice([1, 2, 3, 5])))
        if r.random() < 0.3:
            pairs.append(("bias", False))
            self.features.add("sffn-no-bias")
        return f"sparse_ffn({self.args(pairs)}{self.norm_override()})"

    def norm_override(self):
        r = self.r
        x = r.random()
        if x < 0.08:
            self.features.add("sublayer-norm=none")
            return self.sep() + "norm = none"
        if x < 0.14:
            self.features.add("sublayer-layernorm")
            return self.sep() + "norm = layernorm(eps = 1e-6)"
        if x < 0.18:
            return self.sep() + "norm = rmsnorm"
        return ""


def make_config(i, seed=2024):
    """Returns (xf text, features, description)."""
    g = Gen(i, seed)
    r = g.r
    dim = ODD_DIMS[i % len(ODD_DIMS)]
    if dim % 8 and dim % 2:
        g.features.add("odd-dim")
    context = CONTEXTS[(i * 5) % len(CONTEXTS)]
    if context & (context - 1):
        g.features.add("context-not-pow2")
    vocab = r.choice([13, 17, 29, 37, 50, 61])
    settings = [f"vocab = {vocab}", f"dim = {dim}", f"context = {context}"]
    norm = ["rmsnorm", "layernorm", "none", "rmsnorm"][i % 4]
    if norm == "layernorm":
        settings.append(r.choice(["norm = layernorm", "norm = layernorm(eps = 1e-6)"]))
        g.features.add("layernorm")
    elif norm == "none":
        settings.append("norm = none")
        g.features.add("norm=none")
    elif r.random() < 0.5:
        settings.append("norm = rmsnorm(eps = 1e-6)")
    if i % 3 == 1:
        settings.append("residual = post")
        g.features.add("residual=post")
    position = ["rope", "learned", "none", "rope", "learned"][i % 5]
    if position != "rope" or r.random() < 0.3:
        settings.append(f"position = {position}")
    g.features.add("position=" + position)
    if i % 4 == 2:
        settings.append("tie_embeddings = true")
        g.features.add("tied")
    if i % 7 == 3:
        settings.append("final_norm = false")
        g.features.add("final_norm=false")
    # embed_norm and head = none (an encoder, as BERT is) without consuming r, so the
    # rest of each config stays what it was
    enorm = {1: "layernorm(eps = 1e-12)", 4: "rmsnorm", 5: "layernorm"}.get(i % 6)
    if enorm:
        settings.append(f"embed_norm = {enorm}")
        g.features.add("embed_norm=" + enorm.split("(")[0])
    if i % 6 in (1, 3):
        settings.append("head = none")
        g.features.add("head=none+" + ("post" if i % 3 == 1 else "pre"))

    # Config families, in turn: dense, moe, mod, sparse, mixed.
    fam = i % 5
    blocks, layers = [], []
    bidir = i % 11 == 6
    att = lambda **f: g.attention(dim, position, f or None)   # noqa: E731
    if fam == 0:
        blocks.append(("a", [att(bidirectional=bidir), g.ffn(ACTS[i % 7]), g.ffn(ACTS[(i + 3) % 7])]))
        blocks.append(("b", [att(kv_heads=1, heads=2), g.ffn()]))
        layers = ["a", "b * 2"]
    elif fam == 1:
        blocks.append(("m", [att(bidirectional=bidir),
                             g.moe({"capacity": r.choice(["0.3", "0.5"]), "experts": r.choice([3, 5, 7])}),
                             g.moe({"top_k": 99})]))
        layers = [f"m * {r.choice([1, 2])}", g.ffn()]
    elif fam == 2:
        blocks.append(("d", [att(bidirectional=bidir), g.ffn()]))
        blocks.append(("e", [g.moe(), att(window=r.choice([None, 2]))]))
        g.features.add("mod-k=1")
        g.features.add("mod-k=T")
        gate = r.choice(["", ", gate = sigmoid", ", gate = linear"])
        thr = r.choice(["", ", decode_threshold = -0.3", ", decode_threshold = 0.1", ", decode_threshold = 0"])
        if "sigmoid" in gate:
            g.features.add("mod-gate=sigmoid")
        layers = [f"mod(capacity = 0.01{gate}) d",                     # k = 1
                  "e",
                  f"repeat 2 {{ mod(capacity = 1{thr}) e  mod(capacity = {r.choice(['0.5', '0.3', '0.7'])}) d }}"]  # k = T
    elif fam == 3:
        blocks.append(("s", [att(bidirectional=bidir), g.sffn()]))
        layers = ["s", g.sffn({"block": r.choice([3, 5, 6, 7])}), g.sffn()]
    else:
        blocks.append(("x", [g.sffn(), att(bidirectional=bidir), g.moe({"capacity": "0.5"})]))
        blocks.append(("y", [g.ffn(), att()]))
        layers = ["x", f"mod(capacity = {r.choice(['0.5', '0.25', '0.75'])}, gate = sigmoid) y",
                  "repeat 2 { y }", g.moe({"top_k": 1})]
        g.features.add("mod-gate=sigmoid")
    lines = [f"# random config {i} (random_configs.py, seed {seed})", f"model r{i} {{"]
    lines += ["  " + s for s in settings]
    for name, subs in blocks:
        lines.append(f"  block {name} {{")
        lines += ["    " + s for s in subs]
        lines.append("  }")
    lines.append("  layers {")
    lines += ["    " + l for l in layers]
    lines.append("  }")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    m = xfref.parse_text(text)            # the generator must only write valid models
    if m.has_bidirectional:
        g.features.add("bidirectional")
    return text, g.features


REQUIRED = ["odd-dim", "kv_heads=1", "context-not-pow2", "window", "attn-bias", "ffn-bias", "layernorm",
            "residual=post", "position=learned", "position=none", "tied", "final_norm=false", "norm=none",
            "experts-odd", "top_k=experts", "moe-capacity", "renorm=false", "mod-k=1", "mod-k=T",
            "mod-gate=sigmoid", "sffn-block-not-dividing-8", "sffn-no-bias", "bidirectional", "head_dim",
            "rope=none", "gqa", "embed_norm=layernorm", "embed_norm=rmsnorm", "head=none+pre",
            "head=none+post"] + ["act=" + a for a in ACTS]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--xfc")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--shard", default="0/1", help="K/N: run configs i with i % N == K")
    ap.add_argument("--only", help="comma-separated config indices")
    ap.add_argument("--workdir")
    ap.add_argument("--write", help="write the .xf files to this folder and stop")
    ap.add_argument("--list", action="store_true", help="print the coverage table and stop")
    ap.add_argument("--weight-format", choices=xfref.WEIGHT_FORMATS, default="f32")
    a = ap.parse_args(argv)

    k, n = (int(v) for v in a.shard.split("/"))
    idx = [int(v) for v in a.only.split(",")] if a.only else [i for i in range(a.count) if i % n == k]
    configs = {i: make_config(i, a.seed) for i in range(a.count)}
    if a.list or a.write:
        allf = set()
        for i, (text, feats) in configs.items():
            allf |= feats
            if a.list:
                print(f"config {i}: {', '.join(sorted(feats))}")
        missing = [f for f in REQUIRED if f not in allf]
        if a.list:
            print("missing coverage:", missing or "none")
        if a.write:
            os.makedirs(a.write, exist_ok=True)
            for i in idx:
                with open(os.path.join(a.write, f"r{i}.xf"), "w") as f:
                    f.write(configs[i][0])
        return 1 if missing else 0
    if not a.xfc:
        ap.error("--xfc is required")
    allf = set().union(*(f for _, f in configs.values()))
    missing = [f for f in REQUIRED if f not in allf]
    if missing:
        print(f"random_configs: the generator no longer covers {missing}")
        return 1

    workdir = a.workdir or tempfile.mkdtemp(prefix="xfnum_random_")
    os.makedirs(workdir, exist_ok=True)
    results = []
    for i in idx:
        text, feats = configs[i]
        cdir = os.path.join(workdir, f"r{i}")
        os.makedirs(cdir, exist_ok=True)
        xf = os.path.join(cdir, f"r{i}.xf")
        with open(xf, "w") as f:
            f.write(text)
        # Alternate compilers and weight sources so all get exercised across the suite.
        ccs = ["clang"] if i % 2 == 0 else ["gcc"]
        if i % 5 == 0:
            ccs.append("clang-noomp")
        py = i % 3 == 2
        wf = a.weight_format
        dtype = "F32" if wf == "f32" or (i // 8) % 2 == 0 else "BF16" if wf == "bf16" else "F16"
        res = run_numeric.run_model(xf, os.path.abspath(a.xfc), seed=i + 1, threads=[1, 2, 3], ccs=ccs,
                                    workdir=cdir, py_weights=py, misalign=py, quick=True,
                                    label=f"config {i}" + (f" (--weights {wf}, {dtype} file)" if wf != "f32" else ""),
                                    bad_inputs=(i % 4 == 0 or "bidirectional" in feats),
                                    weight_format=wf, file_dtype=dtype)
        if res.status != run_numeric.EXIT_PASS:
            print("   --- model text ---\n" + "".join("   " + l + "\n" for l in text.splitlines()))
        run_numeric.print_result(res)
        results.append((i, res))
    bad = [i for i, r in results if r.status == run_numeric.EXIT_FAIL]
    inc = [i for i, r in results if r.status == run_numeric.EXIT_INCONCLUSIVE]
    print(f"random_configs: {len(results) - len(bad) - len(inc)}/{len(results)} passed"
          + (f"; FAILED: {bad}" if bad else "") + (f"; INCONCLUSIVE (near-ties): {inc}" if inc else "")
          + f"; files in {workdir}")
    return 1 if bad else 77 if inc else 0


if __name__ == "__main__":
    sys.exit(main())
