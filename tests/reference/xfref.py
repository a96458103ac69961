#!/usr/bin/python3
"""xfref: an independent PyTorch reference for xf models (SPEC.md §2-§4).

It parses the .xf file itself, loads a safetensors file by SPEC §4's names and
shapes, and computes SPEC §3 in float32 torch: forward over a token sequence
and incremental decode with a per-instance KV cache.

Command line (always /usr/bin/python3, which has torch):

    xfref.py MODEL.xf WEIGHTS.safetensors --tokens 1,2,3 [--decode 4,5]
             [--out logits.bin] [--brute] [--print] [--weight-format f32|bf16|q8]
    xfref.py MODEL.xf --weights-spec          # the tensors SPEC §4 requires
    xfref.py MODEL.xf --init-weights W.safetensors --seed 7

`--out` gets float32 logits: forward's [n][vocab] rows, then one [vocab] row
per decoded token, in that order. Near-ties in routing decisions (see
Reference.ties) are printed to stderr. `--weight-format bf16|q8` computes the
model with every matrix replaced by its stored value w' (SPEC §3 "Weight
formats"; convert_weights below), as `xfc --weights` compiles it.

As a module:

    m = xfref.parse_file("model.xf")
    ref = xfref.Reference(m, xfref.load_weights(m, "w.safetensors"))   # weight_format="q8" ...
    logits = ref.forward([1, 2, 3])     # np.float32 [3, vocab]
    row = ref.decode(4)                 # np.float32 [vocab]
    ref.ties                            # routing decisions with a tiny margin
"""
import argparse
import math
import os
import sys
from fractions import Fraction

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

torch.set_num_threads(1)   # deterministic and cheap for the tiny models we run


class XfRefError(Exception):
    pass


# --------------------------------------------------------------------------
# Lexer and parser (SPEC §2 grammar)
# --------------------------------------------------------------------------

PUNCT = set("{}()[]=*;,")


class Tok:
    __slots__ = ("kind", "text", "line", "col")

    def __init__(self, kind, text, line, col):
        self.kind, self.text, self.line, self.col = kind, text, line, col

    def __repr__(self):
        return f"{self.kind}:{self.text!r}@{self.line}:{self.col}"


def tokenize(src):
    toks = []
    i, line, lstart = 0, 1, 0
    n = len(src)
    while i < n:
        c = src[i]
        col = i - lstart + 1
        if c == "\n":
            i += 1
            line += 1
            lstart = i
        elif c in " \t\r\f\v":
            i += 1
        elif c == "#":
            while i < n and src[i] != "\n":
                i += 1
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1
            toks.append(Tok("name", src[i:j], line, col))
            i = j
        elif c.isdigit() or c == "." or (c == "-" and i + 1 < n and (src[i + 1].isdigit() or src[i + 1] == ".")):
            j = i + 1 if c == "-" else i
            while j < n and src[j].isdigit():
                j += 1
            if j < n and src[j] == ".":
                j += 1
                while j < n and src[j].isdigit():
                    j += 1
            if j < n and src[j] in "eE":
                k = j + 1
                if k < n and src[k] in "+-":
                    k += 1
                if k < n and src[k].isdigit():
                    while k < n and src[k].isdigit():
                        k += 1
                    j = k
            text = src[i:j]
            if text in ("-", ".", "-."):
                raise XfRefError(f"{line}:{col}: bad number")
            toks.append(Tok("num", text, line, col))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                if src[j] == "\n":
                    raise XfRefError(f"{line}:{col}: unterminated string")
                j += 1
            if j >= n:
                raise XfRefError(f"{line}:{col}: unterminated string")
            toks.append(Tok("str", src[i + 1:j], line, col))
            i = j + 1
        elif c in PUNCT:
            toks.append(Tok("p", c, line, col))
            i += 1
        else:
            raise XfRefError(f"{line}:{col}: unexpected character {c!r}")
    toks.append(Tok("eof", "", line, i - lstart + 1))
    return toks


class Call:
    def __init__(self, name, args, tok):
        self.name, self.args, self.tok = name, args, tok   # args: {name: value}

    def __repr__(self):
        return f"Call({self.name}, {self.args})"


# Values: ("num", text) | ("name", text) | ("str", text) | ("bool", b)
#       | ("call", Call) | ("list", [values])


class Parser:
    def __init__(self, src):
        self.toks = tokenize(src)
        self.i = 0

    def peek(self, k=0):
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def is_p(self, c, k=0):
        t = self.peek(k)
        return t.kind == "p" and t.text == c

    def expect_p(self, c):
        t = self.next()
        if t.kind != "p" or t.text != c:
            raise XfRefError(f"{t.line}:{t.col}: expected '{c}', got {t.text!r}")
        return t

    def expect_name(self, text=None):
        t = self.next()
        if t.kind != "name" or (text is not None and t.text != text):
            raise XfRefError(f"{t.line}:{t.col}: expected {text or 'a name'}, got {t.text!r}")
        return t

    def skip_seps(self):
        while self.is_p(";") or self.is_p(","):
            self.next()

    def parse_file(self):
        self.skip_seps()
        self.expect_name("model")
        name = self.expect_name().text
        self.expect_p("{")
        settings, blocks, layers = {}, {}, None
        while True:
            self.skip_seps()
            t = self.peek()
            if t.kind == "p" and t.text == "}":
                self.next()
                break
            if t.kind == "name" and t.text == "block" and self.peek(1).kind == "name" and self.is_p("{", 2):
                self.next()
                bname = self.expect_name().text
                self.expect_p("{")
                calls = []
                while True:
                    self.skip_seps()
                    if self.is_p("}"):
                        self.next()
                        break
                    calls.append(self.parse_call())
                if not calls:
                    raise XfRefError(f"{t.line}:{t.col}: empty block")
                if bname in blocks:
                    raise XfRefError(f"{t.line}:{t.col}: duplicate block {bname}")
                blocks[bname] = calls
            elif t.kind == "name" and t.text == "layers" and self.is_p("{", 1):
                self.next()
                self.next()
                if layers is not None:
                    raise XfRefError(f"{t.line}:{t.col}: second layers section")
                layers = self.parse_entries()
            elif t.kind == "name" and self.is_p("=", 1):
                self.next()
                self.next()
                if t.text in settings:
                    raise XfRefError(f"{t.line}:{t.col}: duplicate setting {t.text}")
                settings[t.text] = self.parse_value()
            else:
                raise XfRefError(f"{t.line}:{t.col}: unexpected {t.text!r}")
        self.skip_seps()
        if self.peek().kind != "eof":
            t = self.peek()
            raise XfRefError(f"{t.line}:{t.col}: text after the model")
        if layers is None:
            raise XfRefError("no layers section")
        return name, settings, blocks, layers

    def parse_entries(self):
        # after '{'; returns the list of entries, consumes '}'
        entries = []
        while True:
            self.skip_seps()
            t = self.peek()
            if t.kind == "p" and t.text == "}":
                self.next()
                break
            if t.kind != "name":
                raise XfRefError(f"{t.line}:{t.col}: expected a layer entry, got {t.text!r}")
            if t.text == "repeat" and self.peek(1).kind == "num":
                self.next()
                n = parse_int(self.next())
                self.expect_p("{")
                entries.append(("repeat", n, self.parse_entries(), t))
            elif t.text == "mod" and self.is_p("(", 1):
                self.next()
                self.next()
                args = self.parse_args()
                bt = self.expect_name()
                entries.append(("mod", Call("mod", args, t), bt.text, bt))
            elif self.is_p("(", 1):
                entries.append(("inline", self.parse_call(), t))
            else:
                self.next()
                n = 1
                if self.is_p("*"):
                    self.next()
                    n = parse_int(self.next())
                entries.append(("ref", t.text, n, t))
        if not entries:
            raise XfRefError("empty layers/repeat")
        return entries

    def parse_call(self):
        t = self.expect_name()
        self.expect_p("(")
        return Call(t.text, self.parse_args(), t)

    def parse_args(self):
        # after '('; consumes ')'
        args = {}
        while True:
            self.skip_seps()
            if self.is_p(")"):
                self.next()
                return args
            t = self.expect_name()
            if t.text in args:
                raise XfRefError(f"{t.line}:{t.col}: duplicate parameter {t.text}")
            if self.is_p("="):
                self.next()
                args[t.text] = self.parse_value()
            else:
                args[t.text] = ("bool", True)

    def parse_value(self):
        t = self.peek()
        if t.kind == "num":
            self.next()
            return ("num", t.text)
        if t.kind == "str":
            self.next()
            return ("str", t.text)
        if t.kind == "p" and t.text == "[":
            self.next()
            vals = []
            while True:
                self.skip_seps()
                if self.is_p("]"):
                    self.next()
                    return ("list", vals)
                vals.append(self.parse_value())
        if t.kind == "name":
            if t.text in ("true", "false"):
                self.next()
                return ("bool", t.text == "true")
            if self.is_p("(", 1):
                return ("call", self.parse_call())
            self.next()
            return ("name", t.text)
        raise XfRefError(f"{t.line}:{t.col}: expected a value, got {t.text!r}")


def parse_int(tok_or_text):
    text = tok_or_text.text if isinstance(tok_or_text, Tok) else tok_or_text
    try:
        return int(text, 10)
    except ValueError:
        raise XfRefError(f"expected an integer, got {text!r}")


# --------------------------------------------------------------------------
# Model description with every default of SPEC §2 applied
# --------------------------------------------------------------------------

class Norm:
    def __init__(self, kind, eps=1e-5):
        self.kind, self.eps = kind, eps     # kind: rmsnorm | layernorm | none

    def __repr__(self):
        return self.kind if self.kind == "none" else f"{self.kind}(eps={self.eps})"


class Sub:
    """One sublayer: kind in attention | ffn | moe | sparse_ffn; p = params."""

    def __init__(self, kind, p, norm):
        self.kind, self.p, self.norm = kind, p, norm

    def __repr__(self):
        return f"{self.kind}({self.p}, norm={self.norm})"


class Instance:
    def __init__(self, block_name, subs, mod):
        self.block_name, self.subs, self.mod = block_name, subs, mod   # mod: dict or None


class Model:
    pass


GATED = ("swiglu", "geglu")
ACTS = ("relu", "relu2", "gelu", "gelu_tanh", "silu", "swiglu", "geglu")


def _val_int(v, what):
    if v[0] != "num":
        raise XfRefError(f"{what}: expected an integer")
    n = parse_int(v[1])
    return n


def _val_pos_int(v, what):
    n = _val_int(v, what)
    if n < 1:
        raise XfRefError(f"{what}: must be >= 1")
    return n


def _val_float(v, what):
    if v[0] != "num":
        raise XfRefError(f"{what}: expected a number")
    return float(v[1])


def _val_frac(v, what):
    if v[0] != "num":
        raise XfRefError(f"{what}: expected a number")
    return Fraction(v[1])          # exact decimal, e.g. 0.3 -> 3/10


def _val_bool(v, what):
    if v[0] != "bool":
        raise XfRefError(f"{what}: expected true or false")
    return v[1]


def _val_word(v, what, choices):
    if v[0] == "call" and not v[1].args:
        w = v[1].name
    elif v[0] == "name":
        w = v[1]
    else:
        raise XfRefError(f"{what}: expected one of {choices}")
    if w not in choices:
        raise XfRefError(f"{what}: expected one of {choices}, got {w}")
    return w


def _norm_value(v, what):
    if v[0] == "name":
        name, args = v[1], {}
    elif v[0] == "call":
        name, args = v[1].name, v[1].args
    else:
        raise XfRefError(f"{what}: expected rmsnorm, layernorm or none")
    if name == "none":
        if args:
            raise XfRefError(f"{what}: none takes no parameters")
        return Norm("none")
    if name not in ("rmsnorm", "layernorm"):
        raise XfRefError(f"{what}: unknown norm {name}")
    eps = 1e-5
    for k, a in args.items():
        if k != "eps":
            raise XfRefError(f"{what}: unknown parameter {k}")
        eps = _val_float(a, "eps")
        if not eps > 0:
            raise XfRefError(f"{what}: eps must be > 0")
    return Norm(name, eps)


def _check_known(call, known):
    for k in call.args:
        if k not in known:
            raise XfRefError(f"{call.tok.line}:{call.tok.col}: {call.name}: unknown parameter {k}")


def _req(call, name):
    if name not in call.args:
        raise XfRefError(f"{call.tok.line}:{call.tok.col}: {call.name}: missing parameter {name}")
    return call.args[name]


def _sublayer(call, m):
    a = call.args
    kind = call.name
    norm = _norm_value(a["norm"], "norm") if "norm" in a else m.norm
    p = {}
    where = f"{call.tok.line}:{call.tok.col}: {kind}"
    if kind == "attention":
        _check_known(call, ("heads", "kv_heads", "head_dim", "rope", "bidirectional", "window", "bias", "norm"))
        p["heads"] = _val_pos_int(_req(call, "heads"), "heads")
        p["kv_heads"] = _val_pos_int(a["kv_heads"], "kv_heads") if "kv_heads" in a else p["heads"]
        if p["heads"] % p["kv_heads"]:
            raise XfRefError(f"{where}: heads % kv_heads != 0")
        if "head_dim" in a:
            p["head_dim"] = _val_pos_int(a["head_dim"], "head_dim")
        else:
            if m.dim % p["heads"]:
                raise XfRefError(f"{where}: dim % heads != 0")
            p["head_dim"] = m.dim // p["heads"]
        rope = 10000.0
        if "rope" in a:
            v = a["rope"]
            if v[0] == "name" and v[1] == "none":
                rope = None
            else:
                if m.position != "rope":
                    raise XfRefError(f"{where}: rope with position = {m.position}")
                rope = _val_float(v, "rope")
                if not rope > 0:
                    raise XfRefError(f"{where}: rope base must be > 0")
        if m.position != "rope":
            rope = None
        p["rope"] = rope
        if rope is not None and p["head_dim"] % 2:
            raise XfRefError(f"{where}: odd head_dim under RoPE")
        p["bidirectional"] = _val_bool(a["bidirectional"], "bidirectional") if "bidirectional" in a else False
        w = a.get("window", ("name", "none"))
        p["window"] = None if w == ("name", "none") else _val_pos_int(w, "window")
        p["bias"] = _val_bool(a["bias"], "bias") if "bias" in a else False
    elif kind == "ffn":
        _check_known(call, ("hidden", "act", "bias", "norm"))
        p["hidden"] = _val_pos_int(_req(call, "hidden"), "hidden")
        p["act"] = _val_word(a["act"], "act", ACTS) if "act" in a else "gelu"
        p["bias"] = _val_bool(a["bias"], "bias") if "bias" in a else False
    elif kind == "moe":
        _check_known(call, ("experts", "top_k", "hidden", "act", "capacity", "renorm", "norm"))
        p["experts"] = _val_pos_int(_req(call, "experts"), "experts")
        p["top_k"] = _val_pos_int(_req(call, "top_k"), "top_k")
        if p["top_k"] > p["experts"]:
            raise XfRefError(f"{where}: top_k > experts")
        p["hidden"] = _val_pos_int(_req(call, "hidden"), "hidden")
        p["act"] = _val_word(a["act"], "act", ACTS) if "act" in a else "swiglu"
        p["capacity"] = _val_frac(a["capacity"], "capacity") if "capacity" in a else Fraction(0)
        if p["capacity"] < 0:
            raise XfRefError(f"{where}: capacity < 0")
        p["renorm"] = _val_bool(a["renorm"], "renorm") if "renorm" in a else True
    elif kind == "sparse_ffn":
        _check_known(call, ("hidden", "block", "lowrank", "bias", "norm"))
        p["hidden"] = _val_pos_int(_req(call, "hidden"), "hidden")
        p["block"] = _val_pos_int(_req(call, "block"), "block")
        if p["hidden"] % p["block"]:
            raise XfRefError(f"{where}: hidden % block != 0")
        p["lowrank"] = _val_pos_int(a["lowrank"], "lowrank") if "lowrank" in a else max(1, m.dim // 8)
        p["bias"] = _val_bool(a["bias"], "bias") if "bias" in a else True
    else:
        raise XfRefError(f"{where}: unknown sublayer")
    return Sub(kind, p, norm)


def _mod_params(call):
    _check_known(call, ("capacity", "gate", "decode_threshold"))
    c = _val_frac(_req(call, "capacity"), "capacity")
    if not (0 < c <= 1):
        raise XfRefError("mod capacity must be in (0, 1]")
    gate = _val_word(call.args["gate"], "gate", ("linear", "sigmoid")) if "gate" in call.args else "linear"
    thr_text = call.args["decode_threshold"][1] if "decode_threshold" in call.args else "0.0"
    if "decode_threshold" in call.args:
        _val_float(call.args["decode_threshold"], "decode_threshold")
    return {"capacity": c, "gate": gate, "decode_threshold": float(thr_text),
            "decode_threshold_text": thr_text}


def build_model(name, settings, blocks, layers):
    m = Model()
    m.name = name
    known = ("vocab", "dim", "context", "norm", "residual", "position", "tie_embeddings", "final_norm",
             "embed_norm", "head")
    for k in settings:
        if k not in known:
            raise XfRefError(f"unknown setting {k}")
    for k in ("vocab", "dim", "context"):
        if k not in settings:
            raise XfRefError(f"missing setting {k}")
        setattr(m, k, _val_pos_int(settings[k], k))
    m.norm = _norm_value(settings["norm"], "norm") if "norm" in settings else Norm("rmsnorm", 1e-5)
    m.residual = _val_word(settings["residual"], "residual", ("pre", "post")) if "residual" in settings else "pre"
    m.position = (_val_word(settings["position"], "position", ("rope", "learned", "none"))
                  if "position" in settings else "rope")
    m.tie_embeddings = _val_bool(settings["tie_embeddings"], "tie_embeddings") if "tie_embeddings" in settings else False
    m.final_norm = _val_bool(settings["final_norm"], "final_norm") if "final_norm" in settings else True
    m.embed_norm = _norm_value(settings["embed_norm"], "embed_norm") if "embed_norm" in settings else Norm("none")
    m.head = _val_word(settings["head"], "head", ("lm", "none")) if "head" in settings else "lm"
    if m.head == "none" and m.tie_embeddings:
        raise XfRefError("tie_embeddings = true with head = none")
    m.out_dim = m.vocab if m.head == "lm" else m.dim

    parsed_blocks = {bn: [_sublayer(c, m) for c in calls] for bn, calls in blocks.items()}
    used = set()
    inst = []

    def expand(entries):
        for e in entries:
            if e[0] == "ref":
                _, bn, n, t = e
                if bn not in parsed_blocks:
                    raise XfRefError(f"{t.line}:{t.col}: undefined block {bn}")
                used.add(bn)
                for _ in range(n):
                    inst.append(Instance(bn, parsed_blocks[bn], None))
            elif e[0] == "repeat":
                for _ in range(e[1]):
                    expand(e[2])
            elif e[0] == "mod":
                _, call, bn, t = e
                if bn not in parsed_blocks:
                    raise XfRefError(f"{t.line}:{t.col}: undefined block {bn}")
                used.add(bn)
                inst.append(Instance(bn, parsed_blocks[bn], _mod_params(call)))
            else:
                call = e[1]
                inst.append(Instance(None, [_sublayer(call, m)], None))

    expand(layers)
    for bn in parsed_blocks:
        if bn not in used:
            raise XfRefError(f"unused block {bn}")
    m.instances = inst
    m.has_bidirectional = any(s.kind == "attention" and s.p["bidirectional"] for i in inst for s in i.subs)
    m.has_mod = any(i.mod is not None for i in inst)
    m.has_capacity = any(s.kind == "moe" and s.p["capacity"] > 0 for i in inst for s in i.subs)
    return m


def parse_text(src):
    return build_model(*Parser(src).parse_file())


def parse_file(path):
    with open(path) as f:
        return parse_text(f.read())


def frac_text(f):
    """Exact decimal text of a Fraction whose denominator is 2^a 5^b."""
    f = Fraction(f)
    if f.denominator == 1:
        return str(f.numerator)
    for digits in range(1, 60):
        scaled = f * 10 ** digits
        if scaled.denominator == 1:
            n = abs(scaled.numerator)
            s = str(n).rjust(digits + 1, "0")
            return ("-" if f < 0 else "") + s[:-digits] + "." + s[-digits:]
    raise XfRefError(f"{f} is not a finite decimal")


def _norm_text(nm):
    return "none" if nm.kind == "none" else f"{nm.kind}(eps = {nm.eps!r})"


def sub_text(sub, m):
    p = sub.p
    if sub.kind == "attention":
        a = [f"heads = {p['heads']}", f"kv_heads = {p['kv_heads']}", f"head_dim = {p['head_dim']}"]
        if m.position == "rope":
            a.append("rope = none" if p["rope"] is None else f"rope = {p['rope']!r}")
        a.append(f"bidirectional = {str(p['bidirectional']).lower()}")
        if p["window"] is not None:
            a.append(f"window = {p['window']}")
        a.append(f"bias = {str(p['bias']).lower()}")
    elif sub.kind == "ffn":
        a = [f"hidden = {p['hidden']}", f"act = {p['act']}", f"bias = {str(p['bias']).lower()}"]
    elif sub.kind == "moe":
        a = [f"experts = {p['experts']}", f"top_k = {p['top_k']}", f"hidden = {p['hidden']}", f"act = {p['act']}",
             f"capacity = {frac_text(p['capacity'])}", f"renorm = {str(p['renorm']).lower()}"]
    else:
        a = [f"hidden = {p['hidden']}", f"block = {p['block']}", f"lowrank = {p['lowrank']}",
             f"bias = {str(p['bias']).lower()}"]
    a.append(f"norm = {_norm_text(sub.norm)}")
    return f"{sub.kind}({', '.join(a)})"


def model_text(m, n_subs=None, name=None):
    """The model as .xf text with every default spelled out, one block per
    instance (weight names are unchanged). n_subs keeps only the first n_subs
    sublayers, counted over the instances in order (a prefix of the model)."""
    lines = [f"model {name or m.name} {{", f"  vocab = {m.vocab}", f"  dim = {m.dim}", f"  context = {m.context}",
             f"  norm = {_norm_text(m.norm)}", f"  residual = {m.residual}", f"  position = {m.position}",
             f"  tie_embeddings = {str(m.tie_embeddings).lower()}", f"  final_norm = {str(m.final_norm).lower()}",
             f"  embed_norm = {_norm_text(m.embed_norm)}", f"  head = {m.head}"]
    layers = []
    left = sum(len(i.subs) for i in m.instances) if n_subs is None else n_subs
    for b, ins in enumerate(m.instances):
        if left <= 0:
            break
        subs = ins.subs[:left]
        left -= len(subs)
        lines.append(f"  block i{b} {{")
        lines += ["    " + sub_text(s, m) for s in subs]
        lines.append("  }")
        if ins.mod is None:
            layers.append(f"i{b}")
        else:
            md = ins.mod
            layers.append(f"mod(capacity = {frac_text(md['capacity'])}, gate = {md['gate']}, "
                          f"decode_threshold = {md['decode_threshold_text']}) i{b}")
    lines.append("  layers {")
    lines += ["    " + l for l in layers]
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Weights (SPEC §4)
# --------------------------------------------------------------------------

def weight_specs(m):
    """Ordered list of (name, shape, role) that SPEC §4 requires for model m.
    role is used by the random initializer: embed|norm_w|norm_b|bias|router|w."""
    out = []

    def norm(prefix, nm):
        if nm.kind != "none":
            out.append((prefix + "norm.weight", (m.dim,), "norm_w"))
            if nm.kind == "layernorm":
                out.append((prefix + "norm.bias", (m.dim,), "norm_b"))

    D = m.dim
    out.append(("embed", (m.vocab, D), "embed"))
    if m.position == "learned":
        out.append(("pos_embed", (m.context, D), "embed"))
    norm("embed_", m.embed_norm)
    for b, ins in enumerate(m.instances):
        for s, sub in enumerate(ins.subs):
            pre = f"blocks.{b}.{s}."
            norm(pre, sub.norm)
            p = sub.p
            if sub.kind == "attention":
                H, KV, hd = p["heads"], p["kv_heads"], p["head_dim"]
                out += [(pre + "attn.wq", (H * hd, D), "w"), (pre + "attn.wk", (KV * hd, D), "w"),
                        (pre + "attn.wv", (KV * hd, D), "w"), (pre + "attn.wo", (D, H * hd), "w")]
                if p["bias"]:
                    out += [(pre + "attn.bq", (H * hd,), "bias"), (pre + "attn.bk", (KV * hd,), "bias"),
                            (pre + "attn.bv", (KV * hd,), "bias"), (pre + "attn.bo", (D,), "bias")]
            elif sub.kind == "ffn":
                F = p["hidden"]
                out.append((pre + "ffn.w1", (F, D), "w"))
                if p["act"] in GATED:
                    out.append((pre + "ffn.w3", (F, D), "w"))
                out.append((pre + "ffn.w2", (D, F), "w"))
                if p["bias"]:
                    out.append((pre + "ffn.b1", (F,), "bias"))
                    if p["act"] in GATED:
                        out.append((pre + "ffn.b3", (F,), "bias"))
                    out.append((pre + "ffn.b2", (D,), "bias"))
            elif sub.kind == "moe":
                E, F = p["experts"], p["hidden"]
                out.append((pre + "moe.router", (E, D), "router"))
                out.append((pre + "moe.w1", (E, F, D), "w"))
                if p["act"] in GATED:
                    out.append((pre + "moe.w3", (E, F, D), "w"))
                out.append((pre + "moe.w2", (E, D, F), "w"))
            elif sub.kind == "sparse_ffn":
                F, R = p["hidden"], p["lowrank"]
                out += [(pre + "sffn.c1", (R, D), "w"), (pre + "sffn.c2", (F, R), "w"),
                        (pre + "sffn.w1", (F, D), "w")]
                if p["bias"]:
                    out.append((pre + "sffn.b1", (F,), "bias"))
                out.append((pre + "sffn.w2", (D, F), "w"))
                if p["bias"]:
                    out.append((pre + "sffn.b2", (D,), "bias"))
        if ins.mod is not None:
            out.append((f"blocks.{b}.mod.router", (1, D), "router"))
    norm("", m.norm if m.final_norm else Norm("none"))
    if not m.tie_embeddings and m.head == "lm":
        out.append(("lm_head", (m.vocab, D), "w"))
    return out


def random_weights(m, seed):
    """Deterministic random weights (numpy), scaled so activations stay O(1)."""
    rng = np.random.default_rng(seed)
    w = {}
    for name, shape, role in weight_specs(m):
        if role == "embed":
            a = rng.standard_normal(shape)
        elif role == "norm_w":
            a = 1.0 + 0.2 * rng.standard_normal(shape)
        elif role in ("norm_b", "bias"):
            a = 0.1 * rng.standard_normal(shape)
        else:
            a = rng.standard_normal(shape) / math.sqrt(shape[-1])
        w[name] = a.astype(np.float32)
    return w


def check_weights(m, tensors):
    """Raises XfRefError naming the first missing or misshapen tensor."""
    for name, shape, _ in weight_specs(m):
        if name not in tensors:
            raise XfRefError(f"missing tensor {name}")
        got = tuple(tensors[name].shape)
        if got != tuple(shape):
            raise XfRefError(f"tensor {name}: shape {list(got)}, expected {list(shape)}")
        if tensors[name].dtype != np.float32:
            raise XfRefError(f"tensor {name}: dtype {tensors[name].dtype}, expected float32")


def load_weights(m, path):
    t = st_io.read(path)
    check_weights(m, t)
    return t


# --------------------------------------------------------------------------
# Weight formats (SPEC §3 "Weight formats"): the values w' a matrix stands for
# under `xfc --weights bf16|q8`, computed in torch from the rules alone.
# --------------------------------------------------------------------------

WEIGHT_FORMATS = ("f32", "bf16", "q8")
Q8_BLOCK = 32
_MATRIX_SUFFIXES = ("attn.wq", "attn.wk", "attn.wv", "attn.wo", "ffn.w1", "ffn.w2", "ffn.w3",
                    "moe.w1", "moe.w2", "moe.w3", "sffn.w1", "sffn.w2")


def converts(name):
    """The matrices SPEC §3 lists; every other tensor stays fp32."""
    if name in ("embed", "lm_head"):
        return True
    parts = name.split(".")
    return (len(parts) == 5 and parts[0] == "blocks" and ".".join(parts[3:]) in _MATRIX_SUFFIXES)


def bf16_round(t):
    """t (float32) rounded to the nearest bfloat16, ties to even, as float32:
    the low 16 bits of each value rounded off in integer arithmetic."""
    u = t.contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    lsb = (u >> 16) & 1
    r = ((u + 0x7FFF + lsb) >> 16) << 16
    nan = torch.isnan(t)
    r = torch.where(nan, ((u >> 16) | 0x40) << 16, r) & 0xFFFFFFFF   # a quiet NaN stays one
    r = torch.where(r >= 1 << 31, r - (1 << 32), r)
    return r.to(torch.int32).view(torch.float32)


def _round_half_away(x):
    """Nearest integer, halves away from zero (exact: x - trunc(x) is exact)."""
    t = torch.trunc(x)
    frac = x - t
    return t + torch.where(frac >= 0.5, 1.0, 0.0) - torch.where(frac <= -0.5, 1.0, 0.0)


def q8_values(t):
    """q * s for each block of Q8_BLOCK consecutive elements of each row (the
    last axis; for an expert stack each [e, o, :]), the last block of a row
    possibly shorter: s = max|w| / 127, q = round(w / s) halves away from
    zero, clamped to [-127, 127]; all in float32; 0 where s = 0."""
    t = t.to(torch.float32)
    cols = t.shape[-1]
    rows = t.reshape(-1, cols)
    out = torch.empty_like(rows)
    for k in range(0, cols, Q8_BLOCK):
        blk = rows[:, k:k + Q8_BLOCK]
        s = blk.abs().amax(dim=1, keepdim=True) / torch.tensor(127.0, dtype=torch.float32)
        zero = s == 0
        q = _round_half_away(blk / torch.where(zero, torch.ones_like(s), s)).clamp(-127.0, 127.0)
        out[:, k:k + Q8_BLOCK] = torch.where(zero, torch.zeros_like(blk), q * s)
    return out.reshape(t.shape)


def convert_weights(weights, fmt):
    """{name: torch float32} with every matrix replaced by its w' under fmt."""
    if fmt not in WEIGHT_FORMATS:
        raise XfRefError(f"unknown weight format {fmt!r} (expected one of {', '.join(WEIGHT_FORMATS)})")
    if fmt == "f32":
        return dict(weights)
    conv = bf16_round if fmt == "bf16" else q8_values
    return {k: conv(v) if converts(k) else v for k, v in weights.items()}


def weight_bytes(m, fmt):
    """Bytes of weights a model loaded in format fmt keeps (SPEC §3): 4 per
    element in fp32; a matrix 2 per element in bf16, or in q8 1 per element
    and a 4-byte scale per block of each row."""
    total = 0
    for name, shape, _ in weight_specs(m):
        n = int(np.prod(shape))
        if fmt == "f32" or not converts(name):
            total += 4 * n
        elif fmt == "bf16":
            total += 2 * n
        else:
            cols = shape[-1]
            total += n + 4 * (n // cols) * (-(-cols // Q8_BLOCK))
    return total


# --------------------------------------------------------------------------
# Math (SPEC §3), float32
# --------------------------------------------------------------------------

def ceil_frac(f):
    """ceil of a Fraction, exactly."""
    return -((-f.numerator) // f.denominator)


def stable_order_desc(vals):
    """Indices of a 1-D numpy array from largest to smallest value; equal
    values keep ascending index order (ties go to the lower index)."""
    vals = np.asarray(vals)
    idx = np.arange(vals.shape[0])
    return np.lexsort((idx, -vals.astype(np.float64)))


def act_fn(name, h):
    if name == "relu":
        return torch.relu(h)
    if name == "relu2":
        r = torch.relu(h)
        return r * r
    if name in ("gelu", "geglu"):
        return 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))
    if name == "gelu_tanh":
        return 0.5 * h * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * h * h * h)))
    if name in ("silu", "swiglu"):
        return h * torch.sigmoid(h)
    raise XfRefError(f"unknown act {name}")


def linear(x, w, b=None):
    y = x @ w.t()
    return y if b is None else y + b


def apply_norm(nm, x, w, b):
    if nm.kind == "none":
        return x
    if nm.kind == "rmsnorm":
        ms = (x * x).mean(dim=-1, keepdim=True)
        return x / torch.sqrt(ms + nm.eps) * w
    mu = x.mean(dim=-1, keepdim=True)
    d = x - mu
    var = (d * d).mean(dim=-1, keepdim=True)
    return d / torch.sqrt(var + nm.eps) * w + b


def rope_tables(pos, hd, base):
    """cos, sin as float32 [len(pos), hd/2]; angles computed in float64."""
    p = np.asarray(pos, dtype=np.float64)[:, None]
    i = np.arange(hd // 2, dtype=np.float64)[None, :]
    theta = p * np.power(float(base), -2.0 * i / hd)
    return (torch.from_numpy(np.cos(theta).astype(np.float32)),
            torch.from_numpy(np.sin(theta).astype(np.float32)))


def apply_rope(x, pos, base):
    """x: [T, n_heads, hd]; interleaved pairs (x[2i], x[2i+1])."""
    T, nh, hd = x.shape
    cos, sin = rope_tables(pos, hd, base)
    cos, sin = cos[:, None, :], sin[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


class Tie:
    """A routing decision whose margin is tiny (or zero) compared with the
    float error the inputs of the decision may carry."""

    def __init__(self, where, what, gap, scale):
        self.where, self.what, self.gap, self.scale = where, what, gap, scale

    @property
    def exact(self):
        return self.gap == 0.0

    def __repr__(self):
        kind = "exact tie" if self.exact else "near-tie"
        return f"{kind} at {self.where}: {self.what} (gap {self.gap:.3g}, scale {self.scale:.3g})"


class Reference:
    """Forward and KV-cached decode for one model and one set of weights.

    brute=True switches moe, sparse_ffn, mod and attention to plain per-token
    loops (used by the self-tests to check the vectorized versions)."""

    def __init__(self, model, weights, brute=False, tie_tol=1e-5, weight_format="f32"):
        self.m = model
        check_weights(model, weights)
        self.w = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in weights.items()}
        self.weight_format = weight_format
        self.w = convert_weights(self.w, weight_format)
        self.brute = brute
        self.tie_tol = tie_tol
        self.ties = []          # Tie records from every call since the last clear_ties()
        self.stats = {}         # counters: moe drops, mod routed counts, ...
        self.reset()

    # ---- state ----
    def reset(self):
        self.n = 0              # tokens in the cache (= next position)
        self.cache = {}         # (b, s) -> {"k": [L, KV, hd], "v": [L, KV, hd], "pos": [L]}

    def clear_ties(self):
        self.ties = []

    def _note(self, where, what, gap, scale):
        gap = float(gap)
        if gap <= self.tie_tol * float(scale):
            self.ties.append(Tie(where, what, gap, float(scale)))

    def _wt(self, name):
        return self.w.get(name)

    # ---- whole model ----
    def forward(self, tokens):
        m = self.m
        tokens = [int(t) for t in tokens]
        if not (1 <= len(tokens) <= m.context):
            raise XfRefError(f"forward: n = {len(tokens)} outside [1, {m.context}]")
        for t in tokens:
            if not (0 <= t < m.vocab):
                raise XfRefError(f"forward: token {t} outside [0, {m.vocab})")
        self.reset()
        T = len(tokens)
        x = self.w["embed"][torch.tensor(tokens, dtype=torch.long)].clone()
        if m.position == "learned":
            x = x + self.w["pos_embed"][:T]
        x = self._embed_norm(x)
        pos = np.arange(T)
        for b, ins in enumerate(m.instances):
            if ins.mod is None:
                x = self._block(b, ins, x, pos, f"forward b{b}")
            else:
                x = self._mod_forward(b, ins, x, pos)
        self.n = T
        return self._head(x).numpy()

    def decode(self, token):
        m = self.m
        if m.has_bidirectional:
            raise XfRefError("decode: model has bidirectional attention")
        if not (0 <= int(token) < m.vocab):
            raise XfRefError(f"decode: token {token} outside [0, {m.vocab})")
        if self.n >= m.context:
            raise XfRefError("decode: cache full")
        p = self.n
        x = self.w["embed"][int(token)][None, :].clone()
        if m.position == "learned":
            x = x + self.w["pos_embed"][p][None, :]
        x = self._embed_norm(x)
        pos = np.array([p])
        for b, ins in enumerate(m.instances):
            if ins.mod is None:
                x = self._block(b, ins, x, pos, f"decode p{p} b{b}")
                continue
            wr = self.w[f"blocks.{b}.mod.router"]
            r = linear(x, wr)[0, 0]
            # fp32 like all the math: r (fp32) > the threshold rounded to fp32
            thr = float(np.float32(ins.mod["decode_threshold"]))
            self._note(f"decode p{p} b{b} mod", f"router {float(r):.9g} vs decode_threshold {thr}",
                       abs(float(r) - thr), float(x.norm() * wr.norm()))
            self.stats.setdefault(f"mod b{b} decode admitted", []).append(bool(float(r) > thr))
            if float(r) > thr:
                y = self._block(b, ins, x, pos, f"decode p{p} b{b}")
                g = r if ins.mod["gate"] == "linear" else torch.sigmoid(r)
                x = x + g * (y - x)
        self.n = p + 1
        return self._head(x)[0].numpy()

    def _embed_norm(self, x):
        return apply_norm(self.m.embed_norm, x, self._wt("embed_norm.weight"), self._wt("embed_norm.bias"))

    def _head(self, x):
        m = self.m
        if m.final_norm:
            x = apply_norm(m.norm, x, self._wt("norm.weight"), self._wt("norm.bias"))
        if m.head == "none":
            return x.clone()
        head = self.w["embed"] if m.tie_embeddings else self.w["lm_head"]
        return linear(x, head)

    def _mod_forward(self, b, ins, x, pos):
        T = x.shape[0]
        c = ins.mod["capacity"]
        k = ceil_frac(c * T)
        wr = self.w[f"blocks.{b}.mod.router"]
        r = linear(x, wr)[:, 0]                                  # [T]
        rn = r.numpy()
        if self.brute:
            sel = []
            avail = list(range(T))
            for _ in range(k):
                best = avail[0]
                for i in avail[1:]:
                    if rn[i] > rn[best]:
                        best = i
                sel.append(best)
                avail.remove(best)
            sel = sorted(sel)
        else:
            order = stable_order_desc(rn)
            sel = sorted(order[:k].tolist())
            if k < T:
                scale = float(x.norm(dim=-1).max() * wr.norm())
                self._note(f"forward b{b} mod", f"k={k} of T={T}: position {order[k - 1]} "
                           f"(r={rn[order[k - 1]]:.9g}) in, position {order[k]} (r={rn[order[k]]:.9g}) out",
                           float(rn[order[k - 1]]) - float(rn[order[k]]), scale)
        self.stats.setdefault(f"mod b{b} routed", []).append(len(sel))
        sel_t = torch.tensor(sel, dtype=torch.long)
        xs = x[sel_t]
        y = self._block(b, ins, xs, pos[sel], f"forward b{b}")
        rs = r[sel_t]
        g = rs if ins.mod["gate"] == "linear" else torch.sigmoid(rs)
        out = x.clone()
        if self.brute:
            for j, i in enumerate(sel):
                out[i] = xs[j] + g[j] * (y[j] - xs[j])
        else:
            out[sel_t] = xs + g[:, None] * (y - xs)
        return out

    # ---- one block instance on a (sub)sequence x with original positions pos ----
    def _block(self, b, ins, x, pos, where):
        m = self.m
        for s, sub in enumerate(ins.subs):
            pre = f"blocks.{b}.{s}."
            nw, nb = self._wt(pre + "norm.weight"), self._wt(pre + "norm.bias")
            here = f"{where}.{s} {sub.kind}"
            if m.residual == "pre":
                x = x + self._sub(b, s, sub, apply_norm(sub.norm, x, nw, nb), pos, here)
            else:
                x = apply_norm(sub.norm, x + self._sub(b, s, sub, x, pos, here), nw, nb)
        return x

    def _sub(self, b, s, sub, x, pos, where):
        pre = f"blocks.{b}.{s}."
        if sub.kind == "attention":
            return self._attention(b, s, sub.p, x, pos, pre)
        if sub.kind == "ffn":
            p = sub.p
            w = self.w
            return self._ffn(x, p["act"], w[pre + "ffn.w1"], w.get(pre + "ffn.w3"), w[pre + "ffn.w2"],
                             w.get(pre + "ffn.b1"), w.get(pre + "ffn.b3"), w.get(pre + "ffn.b2"))
        if sub.kind == "moe":
            return (self._moe_brute if self.brute else self._moe)(sub.p, x, pre, where)
        if sub.kind == "sparse_ffn":
            return (self._sffn_brute if self.brute else self._sffn)(sub.p, x, pre, where)
        raise XfRefError(sub.kind)

    @staticmethod
    def _ffn(x, act, w1, w3, w2, b1=None, b3=None, b2=None):
        h = linear(x, w1, b1)
        if act in GATED:
            h = act_fn(act, h) * linear(x, w3, b3)
        else:
            h = act_fn(act, h)
        return linear(h, w2, b2)

    # ---- attention with the per-(instance, sublayer) KV cache ----
    def _attention(self, b, s, p, x, pos, pre):
        w = self.w
        T = x.shape[0]
        H, KV, hd = p["heads"], p["kv_heads"], p["head_dim"]
        q = linear(x, w[pre + "attn.wq"], w.get(pre + "attn.bq")).reshape(T, H, hd)
        k = linear(x, w[pre + "attn.wk"], w.get(pre + "attn.bk")).reshape(T, KV, hd)
        v = linear(x, w[pre + "attn.wv"], w.get(pre + "attn.bv")).reshape(T, KV, hd)
        if p["rope"] is not None:
            q = apply_rope(q, pos, p["rope"])
            k = apply_rope(k, pos, p["rope"])
        c = self.cache.get((b, s))
        if c is None:
            c = {"k": k, "v": v, "pos": np.asarray(pos)}
        else:
            c = {"k": torch.cat([c["k"], k]), "v": torch.cat([c["v"], v]),
                 "pos": np.concatenate([c["pos"], pos])}
        self.cache[(b, s)] = c
        K, V, kpos = c["k"], c["v"], c["pos"]
        L = K.shape[0]
        causal = not p["bidirectional"]
        W = p["window"]
        scale = math.sqrt(hd)
        group = H // KV
        if self.brute:
            out = torch.zeros(T, H, hd)
            for i in range(T):
                qp = int(pos[i])
                for h in range(H):
                    kvh = h // group
                    keys = [j for j in range(L)
                            if (not causal or kpos[j] <= qp) and (W is None or abs(qp - int(kpos[j])) < W)]
                    sc = torch.stack([(q[i, h] * K[j, kvh]).sum() / scale for j in keys])
                    pr = torch.softmax(sc, dim=0)
                    acc = torch.zeros(hd)
                    for a, j in zip(pr, keys):
                        acc = acc + a * V[j, kvh]
                    out[i, h] = acc
        else:
            kidx = torch.arange(H) // group
            Kh = K[:, kidx, :].permute(1, 0, 2)                  # [H, L, hd]
            Vh = V[:, kidx, :].permute(1, 0, 2)
            sc = torch.matmul(q.permute(1, 0, 2), Kh.transpose(1, 2)) / scale    # [H, T, L]
            qp = torch.from_numpy(np.asarray(pos, dtype=np.int64))[:, None]
            kp = torch.from_numpy(np.asarray(kpos, dtype=np.int64))[None, :]
            keep = torch.ones(T, L, dtype=torch.bool)
            if causal:
                keep &= kp <= qp
            if W is not None:
                keep &= (qp - kp).abs() < W
            sc = sc.masked_fill(~keep[None], float("-inf"))
            pr = torch.softmax(sc, dim=-1)
            out = torch.matmul(pr, Vh).permute(1, 0, 2)          # [T, H, hd]
        return linear(out.reshape(T, H * hd), w[pre + "attn.wo"], w.get(pre + "attn.bo"))

    # ---- moe ----
    def _moe_route(self, p, x, pre, where):
        """Returns probs [T,E] (torch), sel [T,k] (np), keep [T,k] (np bool)."""
        T = x.shape[0]
        E, K = p["experts"], p["top_k"]
        wr = self.w[pre + "moe.router"]
        logits = linear(x, wr)
        probs = torch.softmax(logits, dim=-1)
        pn, ln = probs.numpy(), logits.numpy()
        sel = np.zeros((T, K), dtype=np.int64)
        wnorm = float(wr.norm(dim=-1).max())
        for t in range(T):
            order = stable_order_desc(pn[t])
            sel[t] = order[:K]
            scale = float(x[t].norm()) * wnorm
            if K < E:
                a, c = order[K - 1], order[K]
                self._note(f"{where} token {t}", f"expert {a} (p={pn[t, a]:.9g}) chosen over expert {c} "
                           f"(p={pn[t, c]:.9g})", float(ln[t, a]) - float(ln[t, c]), scale)
        keep = np.ones((T, K), dtype=bool)
        if p["capacity"] > 0:
            C = ceil_frac(p["capacity"] * T * K / E)
            flat = sel.T.reshape(-1)                      # rank-major: all first choices, then ...
            onehot = np.zeros((flat.shape[0], E), dtype=np.int64)
            onehot[np.arange(flat.shape[0]), flat] = 1
            slot = np.cumsum(onehot, axis=0)[np.arange(flat.shape[0]), flat]   # 1-based slot in its expert
            keep = (slot <= C).reshape(K, T).T
            ndrop = int((~keep).sum())
            self.stats.setdefault("moe drops", []).append(ndrop)
            if ndrop and K > 1:
                # Rank order decides which assignment is dropped: flag close ranks.
                for t in range(T):
                    for r in range(K - 1):
                        a, c = sel[t, r], sel[t, r + 1]
                        self._note(f"{where} token {t}", f"rank {r} expert {a} vs rank {r + 1} expert {c} "
                                   "(order decides capacity drops)",
                                   float(ln[t, a]) - float(ln[t, c]), float(x[t].norm()) * wnorm)
        return probs, sel, keep

    def _moe_expert(self, p, pre, e, x):
        w = self.w
        w3 = w[pre + "moe.w3"][e] if p["act"] in GATED else None
        return self._ffn(x, p["act"], w[pre + "moe.w1"][e], w3, w[pre + "moe.w2"][e])

    def _moe(self, p, x, pre, where):
        probs, sel, keep = self._moe_route(p, x, pre, where)
        sel_t = torch.from_numpy(sel)
        g = torch.gather(probs, 1, sel_t)                          # [T, K]
        if p["renorm"]:
            g = g / g.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(x)
        for e in range(p["experts"]):
            tt, rr = np.nonzero((sel == e) & keep)
            if len(tt) == 0:
                continue
            tt_t = torch.from_numpy(tt)
            y = self._moe_expert(p, pre, e, x[tt_t])
            out.index_add_(0, tt_t, g[tt_t, torch.from_numpy(rr)][:, None] * y)
        return out

    def _moe_brute(self, p, x, pre, where):
        T = x.shape[0]
        E, K = p["experts"], p["top_k"]
        probs = torch.softmax(linear(x, self.w[pre + "moe.router"]), dim=-1)
        sels, gates = [], []
        for t in range(T):
            avail = list(range(E))
            chosen = []
            for _ in range(K):
                best = avail[0]
                for e in avail[1:]:
                    if probs[t, e] > probs[t, best]:
                        best = e
                chosen.append(best)
                avail.remove(best)
            gs = [probs[t, e] for e in chosen]
            if p["renorm"]:
                tot = sum(gs[1:], gs[0])
                gs = [gv / tot for gv in gs]
            sels.append(chosen)
            gates.append(gs)
        keep = [[True] * K for _ in range(T)]
        if p["capacity"] > 0:
            C = math.ceil(p["capacity"] * T * K / E)     # Fraction -> exact ceil
            used = [0] * E
            for r in range(K):
                for t in range(T):
                    e = sels[t][r]
                    if used[e] < C:
                        used[e] += 1
                    else:
                        keep[t][r] = False
        out = torch.zeros_like(x)
        for t in range(T):
            for r in range(K):
                if keep[t][r]:
                    out[t] += gates[t][r] * self._moe_expert(p, pre, sels[t][r], x[t:t + 1])[0]
        return out

    # ---- sparse_ffn ----
    def _sffn_select(self, p, x, pre, where):
        w = self.w
        T = x.shape[0]
        F, B = p["hidden"], p["block"]
        M = F // B
        h = linear(x, w[pre + "sffn.c1"])
        c = linear(h, w[pre + "sffn.c2"]).numpy().reshape(T, M, B)
        units = np.zeros((T, M), dtype=np.int64)
        c2n = float(w[pre + "sffn.c2"].norm(dim=-1).max())
        hn = h.norm(dim=-1).numpy()
        for t in range(T):
            scale = float(hn[t]) * c2n      # bounds |c| of the group; c's error scales with it
            for g in range(M):
                order = stable_order_desc(c[t, g])
                units[t, g] = g * B + order[0]
                if B > 1:
                    self._note(f"{where} token {t} group {g}",
                               f"unit {order[0]} (c={c[t, g, order[0]]:.9g}) over unit {order[1]} "
                               f"(c={c[t, g, order[1]]:.9g})", float(c[t, g, order[0]]) - float(c[t, g, order[1]]), scale)
        return units

    def _sffn(self, p, x, pre, where):
        w = self.w
        units = torch.from_numpy(self._sffn_select(p, x, pre, where))     # [T, M]
        w1 = w[pre + "sffn.w1"][units]                                     # [T, M, D]
        a = (w1 * x[:, None, :]).sum(-1)                                   # [T, M]
        if p["bias"]:
            a = a + w[pre + "sffn.b1"][units]
        a = torch.relu(a)
        w2 = w[pre + "sffn.w2"].t()[units]                                 # [T, M, D]
        out = (a[:, :, None] * w2).sum(1)
        if p["bias"]:
            out = out + w[pre + "sffn.b2"]
        return out

    def _sffn_brute(self, p, x, pre, where):
        w = self.w
        T, D = x.shape
        F, B = p["hidden"], p["block"]
        c = linear(linear(x, w[pre + "sffn.c1"]), w[pre + "sffn.c2"])
        out = torch.zeros_like(x)
        for t in range(T):
            acc = torch.zeros(D)
            for g in range(F // B):
                best = g * B
                for j in range(g * B + 1, (g + 1) * B):
                    if c[t, j] > c[t, best]:
                        best = j
                a = (x[t] * w[pre + "sffn.w1"][best]).sum()
                if p["bias"]:
                    a = a + w[pre + "sffn.b1"][best]
                acc = acc + torch.relu(a) * w[pre + "sffn.w2"][:, best]
            if p["bias"]:
                acc = acc + w[pre + "sffn.b2"]
            out[t] = acc
        return out


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def _int_list(s):
    s = s.strip()
    return [] if s in ("", "-") else [int(v) for v in s.split(",")]


def main(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch reference for xf models (SPEC §3)")
    ap.add_argument("model")
    ap.add_argument("weights", nargs="?")
    ap.add_argument("--tokens", type=_int_list, help="comma-separated tokens for forward")
    ap.add_argument("--decode", type=_int_list, default=[], help="tokens to decode after forward")
    ap.add_argument("--out", help="write float32 logits here")
    ap.add_argument("--brute", action="store_true", help="per-token loop implementations")
    ap.add_argument("--print", action="store_true", help="print logits summary")
    ap.add_argument("--weights-spec", action="store_true", help="list required tensors and exit")
    ap.add_argument("--init-weights", metavar="PATH", help="write random weights and exit")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weight-format", choices=WEIGHT_FORMATS, default="f32",
                    help="compute with each matrix's stored value w' (SPEC §3 weight formats)")
    a = ap.parse_args(argv)
    try:
        m = parse_file(a.model)
        if a.weights_spec:
            for name, shape, _ in weight_specs(m):
                print(name, list(shape))
            return 0
        if a.init_weights:
            st_io.write(a.init_weights, random_weights(m, a.seed))
            return 0
        if not a.weights:
            ap.error("weights path required")
        ref = Reference(m, load_weights(m, a.weights), brute=a.brute, weight_format=a.weight_format)
        rows = []
        if a.tokens:
            rows.append(ref.forward(a.tokens))
        elif a.decode:
            ref.reset()
        for t in a.decode:
            rows.append(ref.decode(t)[None, :])
        for tie in ref.ties:
            print(f"xfref: warning: {tie}", file=sys.stderr)
        out = np.concatenate(rows, 0) if rows else np.zeros((0, m.out_dim), np.float32)
        if a.out:
            out.astype("<f4").tofile(a.out)
        if a.print or not a.out:
            for i, r in enumerate(out):
                top = int(np.argmax(r))
                print(f"row {i}: argmax {top} max {r[top]:.6g} mean {r.mean():.6g}")
        return 0
    except XfRefError as e:
        print(f"xfref: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
