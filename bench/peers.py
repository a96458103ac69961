#!/usr/bin/python3
"""peers.py - the bench's outside peers: llama.cpp (GGUF) and onnxruntime (ONNX).

Used by run_bench.py when bench/setup.sh has built the peers (it runs in that
venv: PyPI's gguf, onnx and onnxruntime beside Debian's torch and numpy).

  write_gguf(cfg, W, path, fmt)   the model as a llama-architecture GGUF,
                                  fmt f32 | f16 | q8_0 (gguf's own quantizer)
  export_onnx(cfg, W, dir)        dir/prefill.onnx and dir/decode.onnx
  gguf_supports(cfg) / onnx_supports(cfg)   None, or why the peer cannot run it

Command line (what run_bench.py runs, one process per measurement, the same
commands and JSON as xf_bench.c):

  peers.py ort check DIR TOKENS.bin N PROMPT STEPS OUT.bin
  peers.py ort time  DIR TOKENS.bin N PROMPT STEPS REPS

with the intra-op thread count from $XF_THREADS.

cfg is the bench's model description (run_bench.MODELS merged with BASE);
W maps the weight names of docs/weights.md to float32 torch tensors.
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

# bump when a conversion's output changes: run_bench.py keys its cache of converted
# models by the weights' hash and this
CONVERTER_VERSION = 2


# ---- llama.cpp: GGUF ------------------------------------------------------------

def gguf_supports(cfg):
    """None if llama.cpp's llama architecture computes this model, else why not."""
    if any(l["mod"] for l in cfg["layers"]):
        return "llama.cpp has no Mixture-of-Depths"
    kinds = set(l["ffn"] for l in cfg["layers"])
    if kinds == {"ffn", "moe"}:
        return ("llama.cpp's llama architecture makes every block MoE once the expert count "
                "is set; none of its architectures pairs interleaved dense/MoE blocks with "
                "plain softmax-top-k experts and no shared expert or q/k norm (moe_all is the "
                "MoE it runs)")
    return None


def _gguf_tensor(w, name, t, fmt, keep_f32=False):
    """One tensor; 1-D tensors (norms) and keep_f32 ones (the MoE router, as llama.cpp's
    own quantizer leaves it) stay F32 in every format."""
    import gguf
    a = t.detach().numpy().astype(np.float32)
    if a.ndim == 1 or fmt == "f32" or keep_f32:
        w.add_tensor(name, a)
    elif fmt == "f16":
        w.add_tensor(name, a.astype(np.float16))
    elif fmt == "q8_0":
        q = gguf.quants.quantize(a, gguf.GGMLQuantizationType.Q8_0)
        w.add_tensor(name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    else:
        raise ValueError("unknown GGUF format " + fmt)


def write_gguf(cfg, W, path, fmt):
    """cfg's model with weights W as a GGUF file llama.cpp loads as `llama`.

    xfc's RoPE rotates interleaved pairs (x[2i], x[2i+1]), which is llama.cpp's
    "normal" RoPE for this architecture, so wq and wk are written unpermuted.
    The vocabulary is dummy tokens (the bench feeds token ids)."""
    import gguf
    why = gguf_supports(cfg)
    if why:
        raise ValueError(why)
    V, D, H, KVH = cfg["vocab"], cfg["dim"], cfg["heads"], cfg["kv_heads"]
    L = len(cfg["layers"])
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("xfc-bench")
    w.add_context_length(cfg["context"])
    w.add_embedding_length(D)
    w.add_block_count(L)
    moe = cfg["layers"][0]["ffn"] == "moe"
    # llama's MoE blocks take the experts' hidden size from feed_forward_length
    w.add_feed_forward_length(cfg["moe_hidden"] if moe else cfg["hidden"])
    if moe:
        w.add_expert_count(cfg["experts"])
        w.add_expert_used_count(cfg["top_k"])
    w.add_head_count(H)
    w.add_head_count_kv(KVH)
    w.add_rope_dimension_count(D // H)
    w.add_rope_freq_base(float(cfg["rope"]))
    w.add_layer_norm_rms_eps(float(cfg["eps"]))
    w.add_vocab_size(V)
    w.add_file_type({"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                     "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[fmt])
    # a SentencePiece-shaped dummy vocabulary: unk, bos, eos, the 256 byte tokens, fillers
    toks = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    toks += ["tok%d" % i for i in range(len(toks), V)]
    types = [2, 3, 3] + [6] * 256 + [1] * (V - 259)
    w.add_tokenizer_model("llama")
    w.add_token_list(toks[:V])
    w.add_token_scores([0.0] * V)
    w.add_token_types(types[:V])
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    _gguf_tensor(w, "token_embd.weight", W["embed"], fmt)
    for b in range(L):
        p, g = "blocks.%d." % b, "blk.%d." % b
        _gguf_tensor(w, g + "attn_norm.weight", W[p + "0.norm.weight"], fmt)
        for src, dst in (("wq", "attn_q"), ("wk", "attn_k"), ("wv", "attn_v"), ("wo", "attn_output")):
            _gguf_tensor(w, g + dst + ".weight", W[p + "0.attn." + src], fmt)
        _gguf_tensor(w, g + "ffn_norm.weight", W[p + "1.norm.weight"], fmt)
        if moe:     # softmax over the experts, top-k, renormalized: llama's MoE gating
            _gguf_tensor(w, g + "ffn_gate_inp.weight", W[p + "1.moe.router"], fmt, True)
            for src, dst in (("w1", "ffn_gate_exps"), ("w3", "ffn_up_exps"),
                             ("w2", "ffn_down_exps")):
                _gguf_tensor(w, g + dst + ".weight", W[p + "1.moe." + src], fmt)
        else:
            for src, dst in (("w1", "ffn_gate"), ("w3", "ffn_up"), ("w2", "ffn_down")):
                _gguf_tensor(w, g + dst + ".weight", W[p + "1.ffn." + src], fmt)
    _gguf_tensor(w, "output_norm.weight", W["norm.weight"], fmt)
    _gguf_tensor(w, "output.weight", W["lm_head"], fmt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---- onnxruntime: ONNX ----------------------------------------------------------

def onnx_supports(cfg):
    if any(l["mod"] for l in cfg["layers"]):
        return ("not exported: a MoD block's decode appends to its KV cache only when the "
                "router admits the token, a data-dependent cache length")
    return None


class OnnxLM(torch.nn.Module):
    """docs/semantics.md for the bench's models (no MoD), written for torch.onnx.export.

    decode=False: forward(tokens[T]) -> logits [T, V], K [L, T, kvd], V [L, T, kvd]
    decode=True:  forward(token[1], pos[1], past_k [L, P, kvd], past_v) ->
                  logits [1, V], K [L, P+1, kvd], V [L, P+1, kvd]"""

    def __init__(self, cfg, W, decode):
        super().__init__()
        self.cfg, self.decode = cfg, decode
        self.D, self.H, self.KVH = cfg["dim"], cfg["heads"], cfg["kv_heads"]
        self.hd = self.D // self.H
        self.group = self.H // self.KVH
        half = self.hd // 2
        inv = torch.tensor([cfg["rope"] ** (-2.0 * i / self.hd) for i in range(half)],
                           dtype=torch.float64)
        theta = torch.arange(cfg["context"], dtype=torch.float64)[:, None] * inv[None, :]
        self.register_buffer("cos", theta.cos().float())
        self.register_buffer("sin", theta.sin().float())
        self.p = torch.nn.ParameterDict()

        def par(name):
            key = name.replace(".", "_")
            self.p[key] = torch.nn.Parameter(W[name].clone(), requires_grad=False)
            return key

        self.embed, self.norm, self.head = par("embed"), par("norm.weight"), par("lm_head")
        self.blocks = []
        for i, l in enumerate(cfg["layers"]):
            q = "blocks.%d." % i
            blk = dict(n0=par(q + "0.norm.weight"), n1=par(q + "1.norm.weight"),
                       attn=[par(q + "0.attn." + w) for w in ("wq", "wk", "wv", "wo")])
            if l["ffn"] == "ffn":
                blk["ffn"] = [par(q + "1.ffn." + w) for w in ("w1", "w3", "w2")]
            else:
                blk["router"] = par(q + "1.moe.router")
                blk["experts"] = [par(q + "1.moe." + w) for w in ("w1", "w3", "w2")]
            self.blocks.append(blk)

    def w(self, key):
        return self.p[key]

    def rmsnorm(self, x, key):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.cfg["eps"]) * self.w(key)

    def rope(self, x, pos, heads):
        T = x.shape[0]
        x = x.reshape(T, heads, self.hd // 2, 2)
        c, s = self.cos[pos][:, None, :], self.sin[pos][:, None, :]
        a, b = x[..., 0], x[..., 1]
        return torch.stack((a * c - b * s, a * s + b * c), dim=-1).reshape(T, heads * self.hd)

    def swiglu(self, h, w1, w3, w2):
        return F.linear(F.silu(F.linear(h, w1)) * F.linear(h, w3), w2)

    def moe(self, h, blk):
        probs = torch.softmax(F.linear(h, self.w(blk["router"])), dim=-1)
        gate, sel = torch.topk(probs, self.cfg["top_k"], dim=-1)
        gate = gate / gate.sum(-1, keepdim=True)
        w1, w3, w2 = (self.w(k) for k in blk["experts"])
        out = torch.zeros_like(h)
        for e in range(self.cfg["experts"]):
            ge = (gate * (sel == e).to(gate.dtype)).sum(-1)             # [T], 0 if not chosen
            rows = torch.nonzero(ge > 0)[:, 0]
            y = self.swiglu(h.index_select(0, rows), w1[e], w3[e], w2[e])
            out = out.index_add(0, rows, y * ge.index_select(0, rows)[:, None])
        return out

    def forward(self, tokens, pos=None, past_k=None, past_v=None):
        T = tokens.shape[0]
        if self.decode:
            positions = pos
        else:
            positions = torch.arange(T)
        x = self.w(self.embed)[tokens]
        ks, vs = [], []
        for bi, blk in enumerate(self.blocks):
            h = self.rmsnorm(x, blk["n0"])
            wq, wk, wv, wo = (self.w(k) for k in blk["attn"])
            q = self.rope(F.linear(h, wq), positions, self.H)
            k = self.rope(F.linear(h, wk), positions, self.KVH)
            v = F.linear(h, wv)
            if self.decode:
                k = torch.cat([past_k[bi], k], 0)
                v = torch.cat([past_v[bi], v], 0)
            ks.append(k)
            vs.append(v)
            L = k.shape[0]
            qh = q.reshape(T, self.H, self.hd).transpose(0, 1)                       # [H, T, hd]
            kh = k.reshape(L, self.KVH, 1, self.hd).expand(L, self.KVH, self.group, self.hd)
            kh = kh.reshape(L, self.H, self.hd).transpose(0, 1)                       # [H, L, hd]
            vh = v.reshape(L, self.KVH, 1, self.hd).expand(L, self.KVH, self.group, self.hd)
            vh = vh.reshape(L, self.H, self.hd).transpose(0, 1)
            s = torch.matmul(qh, kh.transpose(1, 2)) * (1.0 / math.sqrt(self.hd))     # [H, T, L]
            if not self.decode:     # causal; at decode every cached key is at or before the query
                masked = torch.arange(L)[None, :] > positions[:, None]
                s = s.masked_fill(masked[None], float("-inf"))
            o = torch.matmul(torch.softmax(s, -1), vh).transpose(0, 1).reshape(T, self.D)
            x = x + F.linear(o, wo)
            h = self.rmsnorm(x, blk["n1"])
            x = x + (self.swiglu(h, *(self.w(k) for k in blk["ffn"])) if "ffn" in blk
                     else self.moe(h, blk))
        logits = F.linear(self.rmsnorm(x, self.norm), self.w(self.head))
        return logits, torch.stack(ks), torch.stack(vs)


def export_onnx(cfg, W, d):
    """d/prefill.onnx (tokens -> logits, K, V) and d/decode.onnx (token, pos, past K/V ->
    logits, K, V), dynamic in the token and past lengths; d/cfg.json."""
    os.makedirs(d, exist_ok=True)
    kvd = cfg["kv_heads"] * cfg["dim"] // cfg["heads"]
    L = len(cfg["layers"])
    with torch.no_grad():
        m = OnnxLM(cfg, W, decode=False).eval()
        torch.onnx.export(m, (torch.zeros(4, dtype=torch.long),), os.path.join(d, "prefill.onnx"),
                          input_names=["tokens"], output_names=["logits", "k", "v"],
                          dynamic_axes=dict(tokens={0: "T"}, logits={0: "T"}, k={1: "T"},
                                            v={1: "T"}), opset_version=16)
        m = OnnxLM(cfg, W, decode=True).eval()
        past = torch.zeros(L, 3, kvd)
        torch.onnx.export(m, (torch.zeros(1, dtype=torch.long), torch.tensor([3]), past, past),
                          os.path.join(d, "decode.onnx"),
                          input_names=["token", "pos", "past_k", "past_v"],
                          output_names=["logits", "k", "v"],
                          dynamic_axes=dict(past_k={1: "P"}, past_v={1: "P"}, k={1: "P1"},
                                            v={1: "P1"}), opset_version=16)
    with open(os.path.join(d, "cfg.json"), "w") as f:
        json.dump(dict(vocab=cfg["vocab"], context=cfg["context"]), f)


class OrtModel:
    """The two sessions, with the KV cache kept as OrtValues between decode calls."""

    def __init__(self, d, threads):
        import onnxruntime as ort
        self.ort = ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        prov = ["CPUExecutionProvider"]
        self.pre = ort.InferenceSession(os.path.join(d, "prefill.onnx"), so, providers=prov)
        self.dec = ort.InferenceSession(os.path.join(d, "decode.onnx"), so, providers=prov)
        self.k = self.v = None
        self.n_past = 0

    def forward(self, tokens):
        b = self.pre.io_binding()
        b.bind_cpu_input("tokens", np.ascontiguousarray(tokens, dtype=np.int64))
        for o in ("logits", "k", "v"):
            b.bind_output(o)
        self.pre.run_with_iobinding(b)
        logits, self.k, self.v = b.get_outputs()
        self.n_past = len(tokens)
        return logits

    def decode(self, token):
        b = self.dec.io_binding()
        b.bind_cpu_input("token", np.array([token], dtype=np.int64))
        b.bind_cpu_input("pos", np.array([self.n_past], dtype=np.int64))
        b.bind_ortvalue_input("past_k", self.k)
        b.bind_ortvalue_input("past_v", self.v)
        for o in ("logits", "k", "v"):
            b.bind_output(o)
        self.dec.run_with_iobinding(b)
        logits, self.k, self.v = b.get_outputs()
        self.n_past += 1
        return logits


def _ort_main(argv):
    if len(argv) != 8 or argv[1] not in ("check", "time"):
        sys.exit("usage: peers.py ort check|time DIR TOKENS.bin N PROMPT STEPS OUT.bin|REPS")
    d, n, prompt, steps = argv[2], int(argv[4]), int(argv[5]), int(argv[6])
    threads = int(os.environ.get("XF_THREADS", "1"))
    tok = np.fromfile(argv[3], dtype="<i4").astype(np.int64)
    m = OrtModel(d, threads)
    if argv[1] == "check":
        rows = [m.forward(tok[:n]).numpy()]
        m.forward(tok[:prompt])
        rows += [m.decode(int(tok[prompt + i])).numpy() for i in range(steps)]
        np.concatenate(rows).astype("<f4").tofile(argv[7])
        return
    reps = int(argv[7])
    pre, dec = [], []
    m.forward(tok[:n])                                          # warm-up
    for _ in range(reps):
        t0 = time.perf_counter()
        m.forward(tok[:n]).numpy()
        pre.append(time.perf_counter() - t0)
    m.forward(tok[:prompt])                                     # warm-up
    for i in range(min(steps, 8)):
        m.decode(int(tok[prompt + i]))
    for _ in range(reps):
        m.forward(tok[:prompt])
        t0 = time.perf_counter()
        for i in range(steps):
            m.decode(int(tok[prompt + i]))
        dec.append(time.perf_counter() - t0)
    print(json.dumps(dict(threads=threads, n=n, prompt=prompt, steps=steps, prefill_s=pre,
                          decode_s=dec)))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "ort":
        _ort_main(sys.argv[1:])
    else:
        sys.exit(__doc__)
