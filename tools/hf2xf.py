#!/usr/bin/env python3
"""hf2xf.py - convert a Hugging Face checkpoint into an xf model and its weights.

    python3 tools/hf2xf.py HF_MODEL_DIR -o OUT_DIR [--name NAME] [--context N]

Reads HF_MODEL_DIR/config.json and the weights (model.safetensors, or the shards
that model.safetensors.index.json lists) and writes OUT_DIR/NAME.xf and
OUT_DIR/NAME.safetensors with the tensor names and shapes xfc's generated
code loads (`xfc NAME.xf -o NAME.c` then compiles the model).  Needs only
Python 3 and numpy.

Families:
  bert     BERT-family encoders (BertModel and friends, e.g. all-MiniLM-L6-v2):
           learned positions with token_type_embeddings[0] folded into pos_embed,
           the embedding LayerNorm as embed_norm, post-norm residuals, biases,
           bidirectional attention, head = none (the output is the last hidden
           state).  Pooling is left to the application.
  llama    Llama-family decoders (llama, mistral without a sliding window, qwen2):
           RMSNorm, SwiGLU, RoPE with rope_theta, grouped-query attention, tied or
           untied LM head, attention biases (Llama's attention_bias; Qwen2's q/k/v
           biases, with a zero output bias).  Hugging Face stores q_proj/k_proj rows for the
           "rotate half" RoPE layout (pairs i and i + head_dim/2); xf rotates
           interleaved pairs (2i, 2i+1), so those rows are permuted per head.
  mixtral  Mixtral-style MoE decoders: as llama, with every MLP a top-k MoE
           (router block_sparse_moe.gate, experts stacked into moe.w1/w3/w2,
           gates renormalized over the chosen experts).

What xf cannot express is refused with a message naming the config key (or the
tensor) and nothing is written.  Weights are read as F32, F16 or BF16 and
written as F32 (the narrow types widen exactly).
"""
import argparse
import json
import os
import re
import struct
import sys
import tempfile

import numpy as np


class ConvertError(Exception):
    pass


# ---------------------------------------------------------------------------
# safetensors, read and written with numpy only
# ---------------------------------------------------------------------------

_NP = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
       "F64": np.dtype("<f8"), "I64": np.dtype("<i8"), "I32": np.dtype("<i4"),
       "U8": np.dtype("u1"), "I8": np.dtype("i1"), "BOOL": np.dtype("u1")}


class Tensor:
    """One tensor of a checkpoint: dtype name and an array of its raw values
    (BF16 as uint16 bit patterns)."""

    def __init__(self, dtype, arr):
        self.dtype = dtype
        self.arr = arr

    @property
    def shape(self):
        return tuple(self.arr.shape)

    def f32(self):
        if self.dtype == "BF16":
            return (self.arr.astype("<u4") << 16).view("<f4")
        if self.dtype in ("F32", "F16", "F64"):
            return self.arr.astype("<f4")
        raise ConvertError(f"tensor has dtype {self.dtype}, not a float type")


def read_safetensors(path):
    """{name: Tensor} over a read-only memory map of the file."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                raise ConvertError(f"{path}: not a safetensors file (shorter than 8 bytes)")
            (n,) = struct.unpack("<Q", raw)
            if n > size - 8:
                raise ConvertError(f"{path}: header length {n} past the end of the file")
            hdr = json.loads(f.read(n).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConvertError(f"{path}: {e}")
    if not isinstance(hdr, dict):
        raise ConvertError(f"{path}: header is not a JSON object")
    hdr.pop("__metadata__", None)
    blob = np.memmap(path, dtype="u1", mode="r") if size > 8 + n else np.zeros(0, "u1")
    out = {}
    for name, info in hdr.items():
        try:
            dt = _NP[info["dtype"]]
            shape = tuple(int(s) for s in info["shape"])
            b, e = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ConvertError(f"{path}: tensor {name}: bad header entry {info!r}")
        count = int(np.prod(shape)) if shape else 1
        if b < 0 or e - b != count * dt.itemsize or 8 + n + e > size:
            raise ConvertError(f"{path}: tensor {name}: data_offsets [{b}, {e}] do not fit "
                               f"shape {list(shape)} {info['dtype']} in the file")
        arr = np.frombuffer(blob, dtype="u1", count=e - b, offset=8 + n + b).view(dt).reshape(shape)
        out[name] = Tensor(info["dtype"], arr)
    return out


def read_checkpoint(d):
    single = os.path.join(d, "model.safetensors")
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(single):
        return read_safetensors(single)
    if os.path.exists(index):
        try:
            with open(index) as f:
                wm = json.load(f)["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConvertError(f"{index}: cannot read weight_map ({e})")
        tensors = {}
        for shard in sorted(set(wm.values())):
            if os.path.basename(shard) != shard:
                raise ConvertError(f"{index}: shard name {shard!r} is not a file in {d}")
            part = read_safetensors(os.path.join(d, shard))
            for name, t in part.items():
                if wm.get(name) == shard:
                    tensors[name] = t
        missing = sorted(n for n in wm if n not in tensors)
        if missing:
            raise ConvertError(f"{index}: tensor {missing[0]} is not in its shard {wm[missing[0]]}")
        return tensors
    others = [f for f in ("pytorch_model.bin", "model.bin", "tf_model.h5") if os.path.exists(os.path.join(d, f))]
    hint = f" (found {others[0]}: save the model with safetensors first)" if others else ""
    raise ConvertError(f"{d}: no model.safetensors or model.safetensors.index.json{hint}")


def _umask_mode():
    m = os.umask(0)
    os.umask(m)
    return 0o666 & ~m


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype, array or Lazy); written to a temporary
    file in the same folder and renamed, so a failure leaves no partial file."""
    hdr, off = {}, 0
    for name, dtype, arr in tensors:
        nbytes = arr.size * (4 if isinstance(arr, Lazy) else arr.dtype.itemsize)
        hdr[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + nbytes]}
        off += nbytes
    hdr["__metadata__"] = {"format": "pt", "producer": "xfc tools/hf2xf.py"}
    text = json.dumps(hdr, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-(8 + len(text))) % 8)
    fd, tmp = tempfile.mkstemp(prefix=".hf2xf-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for _, _, arr in tensors:
                f.write((arr() if isinstance(arr, Lazy) else np.ascontiguousarray(arr)).tobytes())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_text(path, text):
    fd, tmp = tempfile.mkstemp(prefix=".hf2xf-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------
# config helpers
# ---------------------------------------------------------------------------

class Config:
    def __init__(self, cfg, path):
        self.cfg = cfg
        self.path = path

    def has(self, key):
        return self.cfg.get(key) is not None

    def get(self, key, default=None):
        v = self.cfg.get(key)
        return default if v is None else v

    def int(self, key, default=None, minimum=1):
        v = self.cfg.get(key, default)
        if v is None:
            raise ConvertError(f"{self.path}: missing {key}")
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise ConvertError(f"{self.path}: {key} = {v!r}: expected an integer >= {minimum}")
        return v

    def float(self, key, default=None):
        v = self.cfg.get(key, default)
        if v is None:
            raise ConvertError(f"{self.path}: missing {key}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            raise ConvertError(f"{self.path}: {key} = {v!r}: expected a positive number")
        return float(v)

    def refuse(self, key, why, ok=lambda v: v is None or v is False):
        if not ok(self.cfg.get(key)):
            raise ConvertError(f"{self.path}: {key} = {json.dumps(self.cfg.get(key))}: {why}")


def num(v):
    """A number as xf source text (exact for the double it came from)."""
    return repr(float(v)) if not float(v).is_integer() or abs(v) >= 1e16 else str(int(v))


# ---------------------------------------------------------------------------
# the families
# ---------------------------------------------------------------------------

class Out:
    """The converted model: xf text and SPEC-named tensors, checked against
    what the checkpoint holds."""

    def __init__(self, ckpt, strip):
        self.ckpt = ckpt
        self.strip = strip      # prefix the checkpoint puts before every name ("bert.", "model.")
        self.used = set()
        self.tensors = []

    def src(self, name, shape):
        full = name if name in self.ckpt else self.strip + name
        t = self.ckpt.get(full)
        if t is None:
            raise ConvertError(f"checkpoint has no tensor {self.strip + name}"
                               + (f" (nor {name})" if self.strip else ""))
        if t.shape != tuple(shape):
            raise ConvertError(f"tensor {full}: shape {list(t.shape)}, the config implies {list(shape)}")
        if t.dtype not in ("F32", "F16", "BF16"):
            raise ConvertError(f"tensor {full}: dtype {t.dtype}, expected F32, F16 or BF16")
        self.used.add(full)
        return t

    def has(self, name):
        return name in self.ckpt or self.strip + name in self.ckpt

    def put(self, name, t, perm=None):
        """t: a Tensor, a list of Tensors to stack (an expert stack) or an
        array; rows optionally permuted; stored as F32 (F16 and BF16 values
        widen exactly).  Checkpoint tensors are converted only while the
        output is written, one at a time, so memory holds one tensor."""
        if isinstance(t, list):
            shape = (len(t),) + t[0].shape
            fn = lambda: np.stack([x.f32() for x in t])   # noqa: E731
        elif isinstance(t, Tensor):
            shape = t.shape
            fn = lambda: t.f32() if perm is None else t.f32()[perm]   # noqa: E731
        else:
            arr = np.asarray(t, dtype="<f4")
            shape, fn = arr.shape, lambda: arr   # noqa: E731
        self.tensors.append((name, "F32", Lazy(shape, fn)))

    def check_all_used(self, ignore):
        left = sorted(n for n in self.ckpt if n not in self.used and not any(re.search(p, n) for p in ignore))
        if left:
            raise ConvertError(f"checkpoint tensor {left[0]} has no place in the xf model "
                               f"({len(left)} such tensors; the config does not account for them)")


class Lazy:
    """An F32 array of a known shape, made when it is written."""

    def __init__(self, shape, fn):
        self.shape = tuple(shape)
        self.fn = fn
        self.size = int(np.prod(self.shape)) if self.shape else 1

    def __call__(self):
        a = np.ascontiguousarray(self.fn(), dtype="<f4")
        assert a.shape == self.shape
        return a


def rope_perm(heads, hd):
    """Row order taking Hugging Face's rotate-half layout of one projection to
    xf's interleaved pairs: new row h*hd + 2i + j is old row h*hd + j*hd/2 + i."""
    idx = np.arange(heads * hd).reshape(heads, 2, hd // 2)
    return idx.transpose(0, 2, 1).reshape(-1)


_BERT_ACTS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
              "relu": "relu", "silu": "silu", "swish": "silu"}


def convert_bert(c, ckpt, name, context):
    c.refuse("position_embedding_type", "only absolute learned positions are supported",
             ok=lambda v: v in (None, "absolute"))
    c.refuse("is_decoder", "a BERT decoder is not supported")
    c.refuse("add_cross_attention", "cross-attention is not supported")
    act = c.get("hidden_act", "gelu")
    if act not in _BERT_ACTS:
        raise ConvertError(f"{c.path}: hidden_act = {json.dumps(act)}: expected one of {', '.join(_BERT_ACTS)}")
    V, D, L = c.int("vocab_size"), c.int("hidden_size"), c.int("num_hidden_layers")
    H, F, P = c.int("num_attention_heads"), c.int("intermediate_size"), c.int("max_position_embeddings")
    if D % H:
        raise ConvertError(f"{c.path}: hidden_size {D} is not a multiple of num_attention_heads {H}")
    eps = c.float("layer_norm_eps", 1e-12)
    T = context or P
    if T > P:
        raise ConvertError(f"--context {T} is more than max_position_embeddings = {P}")
    o = Out(ckpt, "bert.")

    def ln(dst, src):
        w = "weight" if o.has(src + ".weight") else "gamma"
        b = "bias" if o.has(src + ".bias") else "beta"
        o.put(dst + ".weight", o.src(f"{src}.{w}", (D,)))
        o.put(dst + ".bias", o.src(f"{src}.{b}", (D,)))

    o.put("embed", o.src("embeddings.word_embeddings.weight", (V, D)))
    pe = o.src("embeddings.position_embeddings.weight", (P, D)).f32()[:T]
    if c.get("type_vocab_size", 2) > 0 and o.has("embeddings.token_type_embeddings.weight"):
        tt = o.src("embeddings.token_type_embeddings.weight", (c.int("type_vocab_size", 2), D)).f32()
        pe = pe + tt[0]       # every token is of segment 0
    o.put("pos_embed", pe)
    ln("embed_norm", "embeddings.LayerNorm")
    for i in range(L):
        p = f"encoder.layer.{i}."
        for x, s in (("q", "query"), ("k", "key"), ("v", "value")):
            o.put(f"blocks.{i}.0.attn.w{x}", o.src(p + f"attention.self.{s}.weight", (D, D)))
            o.put(f"blocks.{i}.0.attn.b{x}", o.src(p + f"attention.self.{s}.bias", (D,)))
        o.put(f"blocks.{i}.0.attn.wo", o.src(p + "attention.output.dense.weight", (D, D)))
        o.put(f"blocks.{i}.0.attn.bo", o.src(p + "attention.output.dense.bias", (D,)))
        ln(f"blocks.{i}.0.norm", p + "attention.output.LayerNorm")
        o.put(f"blocks.{i}.1.ffn.w1", o.src(p + "intermediate.dense.weight", (F, D)))
        o.put(f"blocks.{i}.1.ffn.b1", o.src(p + "intermediate.dense.bias", (F,)))
        o.put(f"blocks.{i}.1.ffn.w2", o.src(p + "output.dense.weight", (D, F)))
        o.put(f"blocks.{i}.1.ffn.b2", o.src(p + "output.dense.bias", (D,)))
        ln(f"blocks.{i}.1.norm", p + "output.LayerNorm")
    # the pooler and pre-training heads are not part of the encoder's output
    o.check_all_used([r"(^|\.)pooler\.", r"^cls\.", r"position_ids$", r"^(bert\.)?embeddings\.token_type_embeddings"])
    text = f"""# {name}.xf - converted by tools/hf2xf.py from a BERT-family checkpoint
# ({c.get('_name_or_path', 'config.json')}): a bidirectional encoder whose output is
# the last hidden state ({D} floats per token); pool it in the application.
model {name} {{
  vocab      = {V}
  dim        = {D}
  context    = {T}
  norm       = layernorm(eps = {num(eps)})
  residual   = post
  position   = learned
  embed_norm = layernorm(eps = {num(eps)})
  final_norm = false
  head       = none

  block layer {{
    attention(heads = {H}, bidirectional, bias = true)
    ffn(hidden = {F}, act = {_BERT_ACTS[act]}, bias = true)
  }}

  layers {{
    layer * {L}
  }}
}}
"""
    return text, o


def convert_llama(c, ckpt, name, context, moe, qwen2=False):
    family = "Mixtral" if moe else "Qwen2" if qwen2 else "Llama"
    c.refuse("rope_scaling", "RoPE scaling is not supported (xf applies plain RoPE)")
    c.refuse("use_sliding_window", "sliding-window attention is not supported")
    if not qwen2:   # Qwen2 keeps sliding_window in its config but uses it only with use_sliding_window
        c.refuse("sliding_window", "a sliding window shorter than the context is not supported "
                 "(convert with --context at most the window)",
                 ok=lambda v: v is None or v is False or (context is not None and context <= v))
    # Llama's attention_bias puts biases on q, k, v and o; Qwen2 has them on q, k and v
    # only, and xf's attention bias = true gets a zero bo
    bias = qwen2 or bool(c.get("attention_bias", False))
    c.refuse("mlp_bias", "MLP biases are not supported in this family's converter")
    c.refuse("pretraining_tp", "only pretraining_tp = 1 is supported", ok=lambda v: v in (None, 1))
    if c.get("hidden_act", "silu") not in ("silu", "swish"):
        raise ConvertError(f"{c.path}: hidden_act = {json.dumps(c.get('hidden_act'))}: expected silu (SwiGLU)")
    V, D, L = c.int("vocab_size"), c.int("hidden_size"), c.int("num_hidden_layers")
    H = c.int("num_attention_heads")
    KV = c.int("num_key_value_heads", H)
    if H % KV:
        raise ConvertError(f"{c.path}: num_attention_heads {H} is not a multiple of num_key_value_heads {KV}")
    if c.has("head_dim"):
        hd = c.int("head_dim")
    else:
        if D % H:
            raise ConvertError(f"{c.path}: hidden_size {D} is not a multiple of num_attention_heads {H}")
        hd = D // H
    if hd % 2:
        raise ConvertError(f"{c.path}: head dimension {hd} is odd; RoPE needs it even")
    F = c.int("intermediate_size")
    P = c.int("max_position_embeddings")
    T = context or P
    eps = c.float("rms_norm_eps", 1e-6)
    theta = c.float("rope_theta", 10000.0)
    tied = bool(c.get("tie_word_embeddings", False))
    if moe:
        E, K = c.int("num_local_experts"), c.int("num_experts_per_tok")
        if K > E:
            raise ConvertError(f"{c.path}: num_experts_per_tok {K} > num_local_experts {E}")
    o = Out(ckpt, "model.")
    pq, pk = rope_perm(H, hd), rope_perm(KV, hd)
    o.put("embed", o.src("embed_tokens.weight", (V, D)))
    for i in range(L):
        p = f"layers.{i}."
        o.put(f"blocks.{i}.0.norm.weight", o.src(p + "input_layernorm.weight", (D,)))
        o.put(f"blocks.{i}.0.attn.wq", o.src(p + "self_attn.q_proj.weight", (H * hd, D)), pq)
        o.put(f"blocks.{i}.0.attn.wk", o.src(p + "self_attn.k_proj.weight", (KV * hd, D)), pk)
        o.put(f"blocks.{i}.0.attn.wv", o.src(p + "self_attn.v_proj.weight", (KV * hd, D)))
        o.put(f"blocks.{i}.0.attn.wo", o.src(p + "self_attn.o_proj.weight", (D, H * hd)))
        if bias:
            o.put(f"blocks.{i}.0.attn.bq", o.src(p + "self_attn.q_proj.bias", (H * hd,)), pq)
            o.put(f"blocks.{i}.0.attn.bk", o.src(p + "self_attn.k_proj.bias", (KV * hd,)), pk)
            o.put(f"blocks.{i}.0.attn.bv", o.src(p + "self_attn.v_proj.bias", (KV * hd,)))
            o.put(f"blocks.{i}.0.attn.bo", o.src(p + "self_attn.o_proj.bias", (D,)) if not qwen2
                  else np.zeros(D, np.float32))
        o.put(f"blocks.{i}.1.norm.weight", o.src(p + "post_attention_layernorm.weight", (D,)))
        if not moe:
            o.put(f"blocks.{i}.1.ffn.w1", o.src(p + "mlp.gate_proj.weight", (F, D)))
            o.put(f"blocks.{i}.1.ffn.w3", o.src(p + "mlp.up_proj.weight", (F, D)))
            o.put(f"blocks.{i}.1.ffn.w2", o.src(p + "mlp.down_proj.weight", (D, F)))
            continue
        q = p + "block_sparse_moe."
        o.put(f"blocks.{i}.1.moe.router", o.src(q + "gate.weight", (E, D)))
        for xw, shape in (("w1", (F, D)), ("w3", (F, D)), ("w2", (D, F))):
            o.put(f"blocks.{i}.1.moe.{xw}", [o.src(q + f"experts.{e}.{xw}.weight", shape) for e in range(E)])
    o.put("norm.weight", o.src("norm.weight", (D,)))
    if not tied:
        if "lm_head.weight" not in ckpt:
            raise ConvertError(f"checkpoint has no tensor lm_head.weight (and {c.path} says "
                               f"tie_word_embeddings = false)")
        o.put("lm_head", o.src("lm_head.weight", (V, D)))
    o.check_all_used([r"rotary_emb\.inv_freq$"] + ([r"^lm_head\.weight$"] if tied else []))
    ffn = (f"moe(experts = {E}, top_k = {K}, hidden = {F}, act = swiglu)" if moe
           else f"ffn(hidden = {F}, act = swiglu)")
    kv = f", kv_heads = {KV}" if KV != H else ""
    hdt = f", head_dim = {hd}" if hd * H != D else ""
    hdt += ", bias = true" if bias else ""
    text = f"""# {name}.xf - converted by tools/hf2xf.py from a {family}-family checkpoint
# ({c.get('_name_or_path', 'config.json')}): a causal decoder ending in logits over
# the vocabulary.  q/k rows were permuted to xf's interleaved RoPE pairs.
model {name} {{
  vocab          = {V}
  dim            = {D}
  context        = {T}
  norm           = rmsnorm(eps = {num(eps)})
  tie_embeddings = {str(tied).lower()}

  block layer {{
    attention(heads = {H}{kv}{hdt}, rope = {num(theta)})
    {ffn}
  }}

  layers {{
    layer * {L}
  }}
}}
"""
    return text, o


FAMILIES = {"bert": "bert", "llama": "llama", "mistral": "llama", "qwen2": "qwen2", "mixtral": "mixtral"}


def convert(model_dir, out_dir, name=None, context=None):
    cpath = os.path.join(model_dir, "config.json")
    try:
        with open(cpath) as f:
            cfg = json.load(f)
    except (OSError, ValueError) as e:
        raise ConvertError(f"{cpath}: {e}")
    if not isinstance(cfg, dict):
        raise ConvertError(f"{cpath}: not a JSON object")
    c = Config(cfg, cpath)
    mt = cfg.get("model_type")
    fam = FAMILIES.get(mt)
    if fam is None:
        arch = ", ".join(cfg.get("architectures") or []) or "none given"
        raise ConvertError(f"{cpath}: model_type = {json.dumps(mt)} (architectures: {arch}) is not "
                           f"supported; hf2xf converts {', '.join(sorted(FAMILIES))}")
    if context is not None and context < 1:
        raise ConvertError(f"--context {context}: expected a positive integer")
    name = name or re.sub(r"\W", "_", mt)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or name.startswith("xf"):
        raise ConvertError(f"--name {name!r}: expected a C identifier not starting with 'xf'")
    ckpt = read_checkpoint(model_dir)
    if fam == "bert":
        text, o = convert_bert(c, ckpt, name, context)
    else:
        text, o = convert_llama(c, ckpt, name, context, moe=fam == "mixtral", qwen2=fam == "qwen2")
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, name + ".safetensors"), o.tensors)
    write_text(os.path.join(out_dir, name + ".xf"), text)
    return name


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Convert a Hugging Face checkpoint (BERT, Llama/Mistral, Mixtral) into an xf "
                    "model (OUT_DIR/NAME.xf) and its weights (OUT_DIR/NAME.safetensors).")
    ap.add_argument("model_dir", metavar="HF_MODEL_DIR")
    ap.add_argument("-o", "--out", required=True, metavar="OUT_DIR")
    ap.add_argument("--name", help="model name, the C API prefix (default: the config's model_type)")
    ap.add_argument("--context", type=int,
                    help="longest sequence the compiled model holds (default: max_position_embeddings)")
    a = ap.parse_args(argv)
    try:
        name = convert(a.model_dir, a.out, a.name, a.context)
    except ConvertError as e:
        print(f"hf2xf: error: {e}", file=sys.stderr)
        return 1
    print(f"hf2xf: wrote {os.path.join(a.out, name + '.xf')} and {os.path.join(a.out, name + '.safetensors')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
