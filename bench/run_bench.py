#!/usr/bin/python3
"""run_bench.py - xfc-generated C against PyTorch eager on the same models.

For each benchmark model (a llama-like dense decoder, a Mixture-of-Depths
variant, a Mixture-of-Experts variant) this script

  1. writes the .xf file to a temporary directory, runs `xfc -o`,
     `xfc --init-weights` and `xfc --stats` (FLOPs/token);
  2. compiles the generated C with bench/xf_bench.c (clang -O3 -march=native
     -fopenmp);
  3. loads the same safetensors weights into a small PyTorch module that
     implements docs/semantics.md (RMSNorm, interleaved RoPE, GQA causal
     attention with a KV cache, SwiGLU, MoE top-k routing, MoD top-k routing
     with its decode rule) and checks that C and torch logits agree, for the
     prefill and for every decode step, before anything is timed;
  4. times prefill (one forward over `context` tokens) and decode (STEPS
     decode calls after a PROMPT-token forward), best of REPS wall-clock
     runs, for each thread count (default: 1 and os.cpu_count()), next to
     the machine's FMA and streaming-read roofs (bench/peak.c) measured just
     before; prints a table and optionally writes JSON (--json);
  5. does the same for the model compiled with `xfc --no-fuse` (checked
     against torch too), and prints fused against unfused tokens/s with the
     kernel calls and barriers per call from `xfc --stats`.

Run with Debian's python (it has torch):  /usr/bin/python3 bench/run_bench.py
See bench/README.md for what is measured and what the numbers mean.
"""
import argparse
import hashlib
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# ---- the models --------------------------------------------------------------

BASE = dict(vocab=4096, dim=512, context=256, heads=8, kv_heads=4, hidden=1376,
            eps=1e-5, rope=10000.0)

# Each model: a list of block instances, each a dict with the FFN kind
# ("ffn" or "moe") and the MoD capacity (None: every token enters).
MODELS = {
    "llama": dict(layers=[dict(ffn="ffn", mod=None)] * 8),
    "mod": dict(layers=[dict(ffn="ffn", mod=None), dict(ffn="ffn", mod="0.125")] * 4),
    "moe": dict(layers=[dict(ffn="ffn", mod=None), dict(ffn="moe", mod=None)] * 4,
                experts=8, top_k=2, moe_hidden=688),
    # every block MoE (experts of 704 = 22 x 32 units, so Q8_0 blocks fit): the MoE that
    # llama.cpp's llama architecture can run (it cannot alternate dense and MoE blocks)
    "moe_all": dict(layers=[dict(ffn="moe", mod=None)] * 8, experts=8, top_k=2, moe_hidden=704),
    "large": None,      # sized from the machine's last-level cache: large_model()
}


def large_model(llc_bytes):
    """A llama-style model whose matrices streamed per decode step (every block's
    matrices and lm_head) are at least 4x the last-level cache, so that decode reads
    DRAM: dim 1024, 16 heads, 8 KV heads, hidden 2816, and as many blocks as that
    takes (at least 2; 3 for a 32 MiB LLC, 173 MB of weights)."""
    d, hid, V = 1024, 2816, BASE["vocab"]
    kvd = 8 * d // 16
    per_block = 4 * (2 * d * d + 2 * kvd * d + 3 * d * hid)
    blocks = max(2, math.ceil((4 * llc_bytes - 4 * V * d) / per_block))
    return dict(dim=d, heads=16, kv_heads=8, hidden=hid,
                layers=[dict(ffn="ffn", mod=None)] * blocks)


def model_cfg(name, llc_bytes):
    """BASE with the model's own fields (its blocks, and for `large` its sizes)."""
    return dict(BASE, **(large_model(llc_bytes) if name == "large" else MODELS[name]))


def xf_source(name, spec):
    """The .xf text of model `name` (the API prefix is bench_<name>); spec = model_cfg()."""
    b = spec
    attn = "attention(heads = %d, kv_heads = %d, rope = %g)" % (b["heads"], b["kv_heads"],
                                                                 b["rope"])
    lines = ["# %s benchmark model, written by bench/run_bench.py" % name,
             "model bench_%s {" % name,
             "  vocab   = %d" % b["vocab"], "  dim     = %d" % b["dim"],
             "  context = %d" % b["context"], "  norm    = rmsnorm(eps = %g)" % b["eps"]]
    if any(l["ffn"] == "ffn" for l in spec["layers"]):
        lines += ["", "  block dense {", "    " + attn,
                  "    ffn(hidden = %d, act = swiglu)" % b["hidden"], "  }"]
    if any(l["ffn"] == "moe" for l in spec["layers"]):
        lines += ["", "  block sparse {", "    " + attn,
                  "    moe(experts = %d, top_k = %d, hidden = %d, act = swiglu)"
                  % (spec["experts"], spec["top_k"], spec["moe_hidden"]), "  }"]
    lines += ["", "  layers {"]
    for l in spec["layers"]:
        blk = "sparse" if l["ffn"] == "moe" else "dense"
        lines.append("    " + ("mod(capacity = %s) %s" % (l["mod"], blk) if l["mod"] else blk))
    lines += ["  }", "}", ""]
    return "\n".join(lines)


# ---- safetensors -------------------------------------------------------------

def load_safetensors(path):
    """{name: float32 tensor} from a safetensors file (F32 only)."""
    with open(path, "rb") as f:
        data = f.read()
    (hlen,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + hlen].decode("utf-8"))
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError("tensor %s: dtype %s, expected F32" % (name, info["dtype"]))
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        if end - begin != 4 * math.prod(shape):
            raise ValueError("tensor %s: %d bytes for shape %s" % (name, end - begin, shape))
        arr = np.frombuffer(data, dtype="<f4", count=(end - begin) // 4, offset=base + begin)
        out[name] = torch.from_numpy(arr.copy()).reshape(shape)
    return out


# ---- the torch peer ----------------------------------------------------------

def _onednn_mm_t(a, b_mkl):
    """a @ b^T, b already in oneDNN layout: the Linear path of torch.utils.mkldnn."""
    return torch._C._nn.mkldnn_linear(a.contiguous().to_mkldnn(), b_mkl, None).to_dense()


class TorchModel:
    """docs/semantics.md for the benchmark models, in PyTorch eager.

    `matmul` picks how the 2-D matmuls run: "onednn" uses torch's bundled
    oneDNN (torch._C._nn.mkldnn_linear, what torch.utils.mkldnn.to_mkldnn puts
    behind nn.Linear); "blas" uses F.linear / torch.matmul, which in Debian's
    torch build call the system libblas (the netlib reference BLAS here)."""

    def __init__(self, spec, W, matmul="onednn"):
        b = spec
        self.spec, self.matmul = spec, matmul
        self.V, self.D, self.ctx = b["vocab"], b["dim"], b["context"]
        self.H, self.KVH = b["heads"], b["kv_heads"]
        self.hd = self.D // self.H
        self.group = self.H // self.KVH
        self.eps = b["eps"]
        self.scale = 1.0 / math.sqrt(self.hd)
        half = self.hd // 2
        inv = torch.tensor([b["rope"] ** (-2.0 * i / self.hd) for i in range(half)],
                           dtype=torch.float64)
        theta = torch.arange(self.ctx, dtype=torch.float64)[:, None] * inv[None, :]
        self.cos, self.sin = theta.cos().float(), theta.sin().float()
        self.W = W
        self.embed = W["embed"]
        self.mats = {}      # weight name -> the operand of lin() (oneDNN layout or plain)
        self.nbytes = {}    # weight name -> its size

        def mat(name, t=None):
            t = W[name] if t is None else t
            self.nbytes[name] = 4 * t.numel()
            self.mats[name] = t.to_mkldnn() if matmul == "onednn" else t.contiguous()
            return name

        self.blocks = []
        for i, l in enumerate(spec["layers"]):
            p = "blocks.%d." % i
            blk = dict(mod=Fraction(l["mod"]) if l["mod"] else None, ffn=l["ffn"])
            blk["n0"] = W[p + "0.norm.weight"]
            blk["attn"] = [mat(p + "0.attn." + w) for w in ("wq", "wk", "wv", "wo")]
            blk["n1"] = W[p + "1.norm.weight"]
            if l["ffn"] == "ffn":
                blk["w"] = [mat(p + "1.ffn." + w) for w in ("w1", "w3", "w2")]
            else:
                blk["router"] = mat(p + "1.moe.router")
                blk["experts"] = [[mat("%s1.moe.%s[%d]" % (p, w, e), W[p + "1.moe." + w][e])
                                   for w in ("w1", "w3", "w2")]
                                  for e in range(spec["experts"])]
            if blk["mod"] is not None:
                blk["router_w"] = W[p + "mod.router"][0]
            self.blocks.append(blk)
        self.norm = W["norm.weight"]
        self.head = mat("lm_head")
        kvd = self.KVH * self.hd
        self.kcache = [torch.zeros(self.ctx, kvd) for _ in self.blocks]
        self.vcache = [torch.zeros(self.ctx, kvd) for _ in self.blocks]
        self.pcache = [torch.zeros(self.ctx, dtype=torch.long) for _ in self.blocks]
        self.clen = [0] * len(self.blocks)
        self.n_past = 0
        self.counting, self.bytes = False, 0    # weight bytes read by lin() while counting

    # -- pieces
    def lin(self, x, name):
        """x W^T, as nn.Linear (no bias)."""
        if self.counting:
            self.bytes += self.nbytes[name]
        if self.matmul == "onednn":
            return _onednn_mm_t(x, self.mats[name])
        return F.linear(x, self.mats[name])

    def mm_t(self, a, b):
        """a @ b^T for activations (attention scores and weighted sums)."""
        if self.matmul == "onednn":
            return _onednn_mm_t(a, b.contiguous().to_mkldnn())
        return a @ b.t()

    def rmsnorm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def rope(self, x, pos, heads):
        T = x.shape[0]
        x = x.view(T, heads, self.hd // 2, 2)
        c, s = self.cos[pos][:, None, :], self.sin[pos][:, None, :]
        a, b = x[..., 0], x[..., 1]
        return torch.stack((a * c - b * s, a * s + b * c), dim=-1).reshape(T, heads * self.hd)

    def attention(self, h, pos, bi, blk):
        T = h.shape[0]
        wq, wk, wv, wo = blk["attn"]
        q = self.rope(self.lin(h, wq), pos, self.H)
        k = self.rope(self.lin(h, wk), pos, self.KVH)
        v = self.lin(h, wv)
        L0 = self.clen[bi]
        self.kcache[bi][L0:L0 + T] = k
        self.vcache[bi][L0:L0 + T] = v
        self.pcache[bi][L0:L0 + T] = pos
        L = self.clen[bi] = L0 + T
        K = self.kcache[bi][:L].view(L, self.KVH, self.hd)
        Vc = self.vcache[bi][:L].view(L, self.KVH, self.hd)
        kpos = self.pcache[bi][:L]
        if T == 1:      # decode: every cached key is at or before the query
            qh = q.view(self.KVH, self.group, self.hd)
            s = torch.bmm(qh, K.permute(1, 2, 0)) * self.scale          # [KVH, group, L]
            o = torch.bmm(torch.softmax(s, dim=-1), Vc.transpose(0, 1))  # [KVH, group, hd]
            o = o.reshape(1, self.D)
        else:
            # queries of kv head g: heads g*group .. g*group+group-1, as [group*T, hd]
            qh = q.view(T, self.KVH, self.group, self.hd).permute(1, 2, 0, 3)
            masked = (kpos[None, :] > pos[:, None])                      # causal by position
            outs = []
            for g in range(self.KVH):
                s = self.mm_t(qh[g].reshape(self.group * T, self.hd), K[:, g]) * self.scale
                s = s.view(self.group, T, L).masked_fill_(masked, float("-inf"))
                p = torch.softmax(s, dim=-1).view(self.group * T, L)
                outs.append(self.mm_t(p, Vc[:, g].t()).view(self.group, T, self.hd))
            o = torch.stack(outs).permute(2, 0, 1, 3).reshape(T, self.D)
        return self.lin(o, wo)

    def swiglu(self, h, w1, w3, w2):
        return self.lin(F.silu(self.lin(h, w1)) * self.lin(h, w3), w2)

    def moe(self, h, blk):
        probs = torch.softmax(self.lin(h, blk["router"]), dim=-1)
        gate, sel = torch.topk(probs, self.spec["top_k"], dim=-1)
        gate = gate / gate.sum(-1, keepdim=True)                        # renorm = true
        out = torch.zeros_like(h)
        for e, (w1, w3, w2) in enumerate(blk["experts"]):
            rows, rank = torch.nonzero(sel == e, as_tuple=True)
            if rows.numel() == 0:
                continue
            y = self.swiglu(h[rows], w1, w3, w2)
            out.index_add_(0, rows, y * gate[rows, rank][:, None])
        return out

    def block(self, x, pos, bi, blk):
        x = x + self.attention(self.rmsnorm(x, blk["n0"]), pos, bi, blk)
        h = self.rmsnorm(x, blk["n1"])
        return x + (self.swiglu(h, *blk["w"]) if blk["ffn"] == "ffn" else self.moe(h, blk))

    def mod_block(self, x, pos, bi, blk, decode):
        r = x @ blk["router_w"]                                         # [T]
        if self.counting:
            self.bytes += 4 * self.D
        if decode:      # the token enters iff r > decode_threshold (0.0); gate = linear
            if r[0] > 0.0:
                y = self.block(x, pos, bi, blk)
                x = x + r[:, None] * (y - x)
            return x
        T = x.shape[0]
        c = blk["mod"]
        k = -((-c.numerator * T) // c.denominator)                      # ceil(c T), exactly
        order = torch.sort(r, descending=True, stable=True).indices     # ties: lower position
        idx = torch.sort(order[:k]).values
        xt = x[idx]
        y = self.block(xt, pos[idx], bi, blk)
        x = x.clone()
        x[idx] = xt + r[idx][:, None] * (y - xt)
        return x

    def run(self, tokens, decode):
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        T = tokens.shape[0]
        pos = torch.arange(self.n_past, self.n_past + T)
        x = self.embed[tokens]
        for bi, blk in enumerate(self.blocks):
            if blk["mod"] is not None:
                x = self.mod_block(x, pos, bi, blk, decode)
            else:
                x = self.block(x, pos, bi, blk)
        self.n_past += T
        return self.lin(self.rmsnorm(x, self.norm), self.head)

    # -- the generated C API (docs/c-api.md)
    def reset(self):
        self.clen = [0] * len(self.blocks)
        self.n_past = 0

    def forward(self, tokens):
        self.reset()
        return self.run(tokens, decode=False)

    def decode(self, token):
        if self.n_past >= self.ctx:
            raise ValueError("cache full")
        return self.run([token], decode=True)[0]


# ---- helpers -----------------------------------------------------------------

def sh(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if r.returncode != 0:
        sys.exit("command failed (%d): %s\n%s%s" % (r.returncode, " ".join(cmd), r.stdout,
                                                    r.stderr))
    return r.stdout


def flops_per_token(stats):
    """The FLOPs/token column of the `total` row of `xfc --stats`."""
    for line in stats.splitlines():
        f = line.split()
        if f and f[0] == "total":
            return int(f[3])
    sys.exit("no total row in xfc --stats output:\n" + stats)


def work_per_call(stats):
    """{"forward"|"decode": dict(kernels, regions, barriers)} from the work table of `xfc --stats`."""
    out = {}
    for line in stats.splitlines():
        f = line.split()
        if len(f) >= 6 and (f[0] == "forward" or f[:2] == ["decode", "step"]):
            k = f[-5:-2]
            out["forward" if f[0] == "forward" else "decode"] = dict(
                kernels=int(k[0]), regions=int(k[1]), barriers=int(k[2]))
    return out


def _cpuinfo():
    """The first processor's fields of /proc/cpuinfo (x86 and aarch64 name them differently)."""
    info = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if not line.strip():
                if info:
                    break
                continue
            k, _, v = line.partition(":")
            info.setdefault(k.strip(), v.strip())
    return info


def _llc():
    """Size and level of the last-level cache, from sysfs (e.g. "32 MiB L3")."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    best = None
    for d in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        try:
            level = int(open(os.path.join(base, d, "level")).read())
            size = open(os.path.join(base, d, "size")).read().strip()
            kind = open(os.path.join(base, d, "type")).read().strip()
        except (OSError, ValueError):
            continue
        if kind != "Instruction" and (best is None or level > best[0]):
            best = (level, size)
    if best is None:
        return "?"
    size = best[1]
    if size.endswith("K") and int(size[:-1]) % 1024 == 0:
        size = "%d MiB" % (int(size[:-1]) // 1024)
    elif size.endswith("K"):
        size = size[:-1] + " KiB"
    return "%s L%d" % (size, best[0])


def _llc_bytes():
    """The last-level cache in bytes (sysfs; 32 MiB if it cannot be read)."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    best = None
    for d in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        try:
            level = int(open(os.path.join(base, d, "level")).read())
            size = open(os.path.join(base, d, "size")).read().strip()
            kind = open(os.path.join(base, d, "type")).read().strip()
        except (OSError, ValueError):
            continue
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1:], 1)
        try:
            b = int(size.rstrip("KMG")) * mult
        except ValueError:
            continue
        if kind != "Instruction" and (best is None or level > best[0]):
            best = (level, b)
    return best[1] if best else 32 << 20


def machine(cc):
    """What a reader needs beside a figure: CPU, vector ISA, cores, last-level cache, date."""
    ci = _cpuinfo()
    flags = set((ci.get("flags") or ci.get("Features") or "").split())
    isa = [f for f in ("avx512f", "avx512bw", "avx512vl", "avx2", "fma", "asimd", "sve")
           if f in flags]
    model = ci.get("model name") or ci.get("CPU part", "?")
    if "cpu family" in ci:
        model += " (family %s, model %s)" % (ci["cpu family"], ci.get("model", "?"))
    return dict(date=time.strftime("%Y-%m-%d"), cpu=model, isa=" ".join(isa) or "none of note",
                nproc=os.cpu_count(), llc=_llc(), torch=torch.__version__,
                cc=sh([cc, "--version"]).splitlines()[0],
                loadavg=open("/proc/loadavg").read().split()[:3])


def machine_line(info):
    return "machine: %s; ISA %s; %d cpus; LLC %s; %s; torch %s; measured %s" % (
        info["cpu"], info["isa"], info["nproc"], info["llc"], info["cc"], info["torch"],
        info["date"])


def time_torch(tm, tokens, n, prompt, steps, reps, budget):
    """Wall seconds of up to `reps` prefills and decode runs, as xf_bench measures them;
    a measurement stops repeating once its runs have taken `budget` seconds."""
    pre, dec = [], []
    with torch.inference_mode():
        tm.forward(tokens[:n])                                          # warm-up
        for _ in range(reps):
            t0 = time.perf_counter()
            tm.forward(tokens[:n])
            pre.append(time.perf_counter() - t0)
            if sum(pre) > budget:
                break
        tm.forward(tokens[:prompt])                                     # warm-up
        for i in range(min(steps, 8)):
            tm.decode(int(tokens[prompt + i]))
        for _ in range(reps):
            if sum(dec) > budget:
                break
            tm.forward(tokens[:prompt])
            t0 = time.perf_counter()
            for i in range(steps):
                tm.decode(int(tokens[prompt + i]))
            dec.append(time.perf_counter() - t0)
    return pre, dec


def threads_env(nt):
    """OMP_NUM_THREADS for the C drivers (xfc's models, ggml's OpenMP), XF_THREADS for the
    llama.cpp and onnxruntime drivers' own thread-count settings."""
    return dict(os.environ, OMP_NUM_THREADS=str(nt), XF_THREADS=str(nt))


def driver_logits(cmd, mpath, tpath, n, prompt, steps, out, vocab):
    """The N prefill rows, then the STEPS decode rows, of a driver's `check` (all cores)."""
    sh(cmd + ["check", mpath, tpath, str(n), str(prompt), str(steps), out],
       env=threads_env(os.cpu_count()))
    return np.fromfile(out, dtype="<f4").reshape(n + steps, vocab)


def driver_time(cmd, mpath, tpath, n, prompt, steps, reps, nt):
    c = json.loads(sh(cmd + ["time", mpath, tpath, str(n), str(prompt), str(steps), str(reps)],
                      env=threads_env(nt)))
    return c["prefill_s"], c["decode_s"]


PEER_TOL = 1e-4     # a peer is timed only if max|logits - xfc's| <= PEER_TOL * max|xfc's logits|


def agreement(a, ref):
    """max|a - ref| / max|ref| over every row, and the fraction of rows with the same argmax."""
    rel = float(np.abs(a - ref).max() / np.abs(ref).max())
    top1 = float((a.argmax(-1) == ref.argmax(-1)).mean())
    return dict(max_rel=rel, top1=top1)


def torch_check(tm, c, tokens, n, prompt, steps):
    """xfc's logits `c` against torch's: prefill and every decode step (tolerance
    1e-3 * max(1, max|ref|)); torch's logits; the matrix bytes a decode step streams."""
    with torch.inference_mode():
        ref = [tm.forward(tokens[:n]).numpy()]
        tm.forward(tokens[:prompt])
        tm.counting, tm.bytes = True, 0
        ref.append(np.stack([tm.decode(int(tokens[prompt + i])).numpy() for i in range(steps)]))
        tm.counting = False
    ref = np.concatenate(ref)
    # matrix weights a decode step streams (the embed row, norms and KV cache are not counted;
    # for MoD this depends on how many tokens the routers admit)
    res = dict(decode_weight_bytes=tm.bytes / max(steps, 1) + 4 * tm.D)
    for part, sl in (("prefill", slice(0, n)), ("decode", slice(n, n + steps))):
        diff = float(np.abs(c[sl] - ref[sl]).max())
        peak = float(np.abs(ref[sl]).max())
        tol = 1e-3 * max(1.0, peak)
        res[part] = dict(max_abs_diff=diff, max_abs_ref=peak, tol=tol, ok=diff <= tol)
    return res, ref


def file_digest(path, extra=b""):
    h = hashlib.sha256(extra)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


# the weight bytes a format reads per f32 byte: F16/BF16 2 of 4; Q8_0 34 per 32 elements
# (fp16 scale); xfc q8 36 per 32 (fp32 scale, xfc --weights q8)
FORMAT_BYTES = {"f32": 1.0, "f16": 0.5, "bf16": 0.5, "q8_0": 34 / 128, "q8": 36 / 128}


# ---- main --------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="llama,mod,moe,moe_all,large",
                    help="comma-separated subset of: " + ",".join(MODELS))
    ap.add_argument("--threads", default="1,%d" % os.cpu_count(),
                    help="comma-separated thread counts (OMP_NUM_THREADS, torch.set_num_threads, "
                         "llama.cpp n_threads, onnxruntime intra-op threads); default 1 and all "
                         "cores")
    ap.add_argument("--reps", type=int, default=3, help="timed runs per measurement and round")
    ap.add_argument("--rounds", type=int, default=2,
                    help="rounds of (one measurement of each implementation), alternated; the "
                         "best run of all counts")
    ap.add_argument("--budget", type=float, default=8.0,
                    help="torch: stop repeating a measurement after this many seconds (a "
                         "contended machine can make one run take seconds)")
    ap.add_argument("--prompt", type=int, default=16, help="tokens forwarded before decoding")
    ap.add_argument("--steps", type=int, default=64, help="decode steps timed")
    ap.add_argument("--torch-matmul", choices=("onednn", "blas"), default="onednn",
                    help="torch matmul path (see TorchModel); default onednn")
    ap.add_argument("--xfc", default=os.path.join(ROOT, "build", "xfc"))
    ap.add_argument("--cc", default="clang")
    ap.add_argument("--seed", type=int, default=1, help="weights and tokens seed")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--keep", help="work in this directory (kept) instead of a temporary one")
    ap.add_argument("--no-nofuse", action="store_true",
                    help="skip the xfc --no-fuse build (by default timed next to the fused one)")
    ap.add_argument("--peers", default="llama.cpp,onnxruntime",
                    help="outside peers to run (comma-separated subset of llama.cpp,onnxruntime, "
                         "or none); they need bench/setup.sh's venv and build")
    ap.add_argument("--peers-dir", default=os.environ.get("XF_PEERS",
                                                          os.path.join(ROOT, "build",
                                                                       "bench-peers")),
                    help="what bench/setup.sh built (default build/bench-peers); converted "
                         "models are cached under its models/")
    args = ap.parse_args()

    names = [m for m in args.models.split(",") if m]
    for m in names:
        if m not in MODELS:
            ap.error("unknown model %s" % m)
    threads = [int(t) for t in args.threads.split(",")]
    n, prompt, steps = BASE["context"], args.prompt, args.steps
    if prompt < 1 or steps < 1 or prompt + steps > n:
        ap.error("need prompt >= 1, steps >= 1, prompt + steps <= the context (%d)" % n)
    if args.reps < 1 or args.rounds < 1:
        ap.error("--reps and --rounds must be at least 1")
    peers_on = set(p for p in args.peers.split(",") if p and p != "none")
    if peers_on - {"llama.cpp", "onnxruntime"}:
        ap.error("unknown peer(s): %s" % ",".join(sorted(peers_on - {"llama.cpp", "onnxruntime"})))
    llama_exe = os.path.join(args.peers_dir, "xf_llama")
    if peers_on:
        try:
            import peers        # noqa: F401  (gguf, onnx, onnxruntime: bench/setup.sh's venv)
            if "llama.cpp" in peers_on:
                import gguf     # noqa: F401
            if "onnxruntime" in peers_on:
                import onnxruntime  # noqa: F401
        except ImportError as e:
            sys.exit("%s: the peers need bench/setup.sh's venv; run `bash bench/run.sh` "
                     "(or --peers none)" % e)
        if "llama.cpp" in peers_on and not os.access(llama_exe, os.X_OK):
            sys.exit("%s missing: run `bash bench/setup.sh` (or --peers onnxruntime)" % llama_exe)
        import peers

    t_start = time.perf_counter()
    workdir = args.keep or tempfile.mkdtemp(prefix="xfbench.")
    os.makedirs(workdir, exist_ok=True)
    cache = os.path.join(args.peers_dir, "models")
    info = machine(args.cc)
    llc_bytes = _llc_bytes()
    print(machine_line(info), flush=True)
    print("# %s, %d cpus; torch %s (matmul: %s); %s; load %s" % (
        info["cpu"], info["nproc"], info["torch"], args.torch_matmul, info["cc"],
        " ".join(info["loadavg"])), flush=True)
    results, accuracy, notes = [], [], []
    # the machine's roofs (bench/peak.c), measured again before each row: the load changes
    peak_exe = os.path.join(workdir, "peak")
    sh([args.cc, "-O3", "-march=native", "-fopenmp", os.path.join(HERE, "peak.c"), "-o", peak_exe])
    read_mib = max(512, 8 * llc_bytes >> 20)
    tokens = np.random.RandomState(args.seed).randint(0, BASE["vocab"], n).astype("<i4")
    tpath = os.path.join(workdir, "tokens.bin")
    tokens.tofile(tpath)
    wfmt_ok = None      # does this xfc take --weights?

    def note(msg):
        notes.append(msg)
        print(msg, flush=True)

    try:
        for name in names:
            spec = model_cfg(name, llc_bytes)
            V = spec["vocab"]
            api = "bench_" + name
            xf = os.path.join(workdir, api + ".xf")
            with open(xf, "w") as f:
                f.write(xf_source(name, spec))
            csrc = os.path.join(workdir, api + ".c")
            wpath = os.path.join(workdir, api + ".safetensors")
            exe = os.path.join(workdir, api + "_bench")
            t0 = time.perf_counter()
            sh([args.xfc, xf, "-o", csrc])
            sh([args.xfc, xf, "--init-weights", wpath, "--seed", str(args.seed)])
            fpt = flops_per_token(sh([args.xfc, xf, "--stats"]))
            sh([args.cc, "-O3", "-march=native", "-fopenmp", "-DXF_MODEL=" + api, "-I" + workdir,
                csrc, os.path.join(HERE, "xf_bench.c"), "-lm", "-o", exe])
            t_build = time.perf_counter() - t0
            wbytes = os.path.getsize(wpath)
            print("%-6s %d blocks, dim %d: %.1f MB of weights (%.1fx the LLC)" % (
                name, len(spec["layers"]), spec["dim"], wbytes / 1e6, wbytes / llc_bytes),
                flush=True)
            work = dict(fused=work_per_call(sh([args.xfc, xf, "--stats"])))
            # the same model without fusion (xfc --no-fuse), in its own directory
            nf_dir = os.path.join(workdir, "nofuse")
            os.makedirs(nf_dir, exist_ok=True)
            nf_exe = None
            if not args.no_nofuse:
                nf_c = os.path.join(nf_dir, api + ".c")
                nf_exe = os.path.join(nf_dir, api + "_bench")
                sh([args.xfc, xf, "--no-fuse", "-o", nf_c])
                sh([args.cc, "-O3", "-march=native", "-fopenmp", "-DXF_MODEL=" + api, "-I" + nf_dir,
                    nf_c, os.path.join(HERE, "xf_bench.c"), "-lm", "-o", nf_exe])
                work["no_fuse"] = work_per_call(sh([args.xfc, xf, "--no-fuse", "--stats"]))
            print("%-6s per decode step: %s" % (name, "; ".join(
                "%s %d kernel calls, %d parallel region(s), %d barriers" % (
                    k, w["decode"]["kernels"], w["decode"]["regions"], w["decode"]["barriers"])
                for k, w in work.items())), flush=True)

            # ---- correctness before speed: xfc against torch, every peer against xfc
            X = driver_logits([exe], wpath, tpath, n, prompt, steps,
                              os.path.join(workdir, name + ".xfc.logits"), V)
            torch.set_num_threads(os.cpu_count())
            tm = TorchModel(spec, load_safetensors(wpath), args.torch_matmul)
            chk, tref = torch_check(tm, X, tokens, n, prompt, steps)
            ok = all(v["ok"] for k, v in chk.items() if k in ("prefill", "decode"))
            if nf_exe:
                NF = driver_logits([nf_exe], wpath, tpath, n, prompt, steps,
                                   os.path.join(nf_dir, name + ".logits"), V)
                nchk, _ = torch_check(tm, NF, tokens, n, prompt, steps)
                ok = ok and all(v["ok"] for k, v in nchk.items() if k in ("prefill", "decode"))
            print("%-6s build %.1fs; check C vs torch: %s  (%s)" % (
                name, t_build, "ok" if ok else "MISMATCH",
                ", ".join("%s max|diff| %.2e, max|ref| %.2f" % (k, v["max_abs_diff"],
                                                                v["max_abs_ref"])
                          for k, v in chk.items() if k in ("prefill", "decode"))), flush=True)
            if not ok:
                sys.exit("%s: C and torch logits disagree; not timing wrong numbers" % name)
            dbytes = chk["decode_weight_bytes"]

            # impls: key -> dict(label, fmt, run(nt) -> (prefill_s, decode_s), agree)
            impls = {}

            def add(key, label, fmt, run, agree):
                impls[key] = dict(label=label, fmt=fmt, run=run, agree=agree)

            def run_c(e, m):
                return lambda nt: driver_time([e], m, tpath, n, prompt, steps, args.reps, nt)

            add("xfc", "xfc", "f32", run_c(exe, wpath), None)
            add("torch", "PyTorch eager", "f32",
                lambda nt: time_torch(tm, tokens, n, prompt, steps, args.reps, args.budget),
                dict(agreement(tref, X), vs="xfc", ok=True))
            if nf_exe:
                add("xfc_no_fuse", "xfc --no-fuse", "f32", run_c(nf_exe, wpath),
                    dict(agreement(NF, X), vs="xfc", ok=True))

            # xfc's reduced-precision weights, when this xfc has them
            for wf in ("bf16", "q8"):
                if wfmt_ok is False:
                    break
                wdir = os.path.join(workdir, wf)
                os.makedirs(wdir, exist_ok=True)
                wc = os.path.join(wdir, api + ".c")
                r = subprocess.run([args.xfc, xf, "-o", wc, "--weights", wf],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                if r.returncode != 0:
                    wfmt_ok = False
                    note("skipped: xfc has no --weights (xfc said: %s)" %
                         (r.stdout.strip().splitlines() or ["?"])[0])
                    break
                wfmt_ok = True
                we = os.path.join(wdir, api + "_bench")
                sh([args.cc, "-O3", "-march=native", "-fopenmp", "-DXF_MODEL=" + api,
                    "-I" + wdir, wc, os.path.join(HERE, "xf_bench.c"), "-lm", "-o", we])
                WL = driver_logits([we], wpath, tpath, n, prompt, steps,
                                   os.path.join(wdir, name + ".logits"), V)
                acc = agreement(WL, X)
                accuracy.append(dict(model=name, impl="xfc --weights " + wf, vs="xfc f32", **acc))
                add("xfc_" + wf, "xfc --weights " + wf, wf, run_c(we, wpath),
                    dict(acc, vs="xfc f32", ok=True))

            mcache = None
            if peers_on:
                mcache = os.path.join(cache, "%s-%s" % (name, file_digest(
                    wpath, b"converter %d" % peers.CONVERTER_VERSION)))
                os.makedirs(mcache, exist_ok=True)
            if "llama.cpp" in peers_on:
                why = peers.gguf_supports(spec)
                if why:
                    note("%-6s llama.cpp: not run: %s" % (name, why))
                else:
                    ref = None
                    for fmt in ("f32", "f16", "q8_0"):
                        g = os.path.join(mcache, fmt + ".gguf")
                        if not os.path.exists(g):
                            peers.write_gguf(spec, tm.W, g + ".tmp", fmt)
                            os.replace(g + ".tmp", g)
                        GL = driver_logits([llama_exe], g, tpath, n, prompt, steps,
                                           os.path.join(workdir, "%s.llama.%s.logits" % (name, fmt)),
                                           V)
                        label = "llama.cpp " + fmt.upper()
                        if fmt == "f32":
                            ref = GL
                            acc = agreement(GL, X)
                            acc.update(vs="xfc", ok=acc["max_rel"] <= PEER_TOL)
                            print("%-6s check llama.cpp F32 vs xfc: max|diff|/max|xfc| %.1e, "
                                  "top-1 %.3f: %s" % (name, acc["max_rel"], acc["top1"],
                                                      "ok" if acc["ok"] else "MISMATCH"),
                                  flush=True)
                            if not acc["ok"]:
                                note("%-6s llama.cpp F32 logits disagree with xfc's (%.1e > %g); "
                                     "llama.cpp not timed" % (name, acc["max_rel"], PEER_TOL))
                                break
                        else:
                            acc = agreement(GL, ref)
                            accuracy.append(dict(model=name, impl=label, vs="llama.cpp F32", **acc))
                            acc.update(vs="llama.cpp F32", ok=True)
                        add("llama_" + fmt, label, fmt, run_c(llama_exe, g), acc)

            if "onnxruntime" in peers_on:
                why = peers.onnx_supports(spec)
                if why:
                    note("%-6s onnxruntime: %s" % (name, why))
                else:
                    od = os.path.join(mcache, "onnx")
                    if not os.path.exists(os.path.join(od, "cfg.json")):
                        peers.export_onnx(spec, tm.W, od)
                    ort_cmd = [sys.executable, os.path.join(HERE, "peers.py"), "ort"]
                    OL = driver_logits(ort_cmd, od, tpath, n, prompt, steps,
                                       os.path.join(workdir, name + ".ort.logits"), V)
                    acc = agreement(OL, X)
                    acc.update(vs="xfc", ok=acc["max_rel"] <= PEER_TOL)
                    print("%-6s check onnxruntime vs xfc: max|diff|/max|xfc| %.1e, top-1 %.3f: %s"
                          % (name, acc["max_rel"], acc["top1"], "ok" if acc["ok"] else "MISMATCH"),
                          flush=True)
                    if acc["ok"]:
                        add("ort", "onnxruntime", "f32",
                            lambda nt, od=od, c=ort_cmd: driver_time(c, od, tpath, n, prompt,
                                                                     steps, args.reps, nt), acc)
                    else:
                        note("%-6s onnxruntime logits disagree with xfc's (%.1e > %g); not timed"
                             % (name, acc["max_rel"], PEER_TOL))

            for nt in threads:
                load = os.getloadavg()[0]
                roof = json.loads(sh([peak_exe, str(read_mib)], env=threads_env(nt)))
                torch.set_num_threads(nt)
                times = {k: ([], []) for k in impls}
                for _ in range(args.rounds):    # alternate, so all meet the same neighbours
                    for k, im in impls.items():
                        p, d = im["run"](nt)
                        times[k][0].extend(p)
                        times[k][1].extend(d)
                row = dict(model=name, threads=nt, loadavg=load, flops_per_token=fpt, check=chk,
                           roofs=roof, decode_weight_bytes=dbytes, weight_file_bytes=wbytes,
                           work=work, impls=list(impls))
                for k, im in impls.items():
                    r = row[k] = dict(label=im["label"], fmt=im["fmt"], prefill_s=times[k][0],
                                      decode_s=times[k][1], agreement=im["agree"])
                    r["prefill_tok_s"] = n / min(r["prefill_s"])
                    r["decode_tok_s"] = steps / min(r["decode_s"])
                    r["prefill_gflop_s"] = r["prefill_tok_s"] * fpt / 1e9
                    r["decode_weight_gb_s"] = (r["decode_tok_s"] * dbytes *
                                               FORMAT_BYTES[im["fmt"]] / 1e9)
                results.append(row)
                print("%-6s threads %d (FMA %.0f GFLOP/s at %d lanes, read %.1f GB/s; load %.1f): %s"
                      % (name, nt, roof["fma_gflop_s"], roof["fma_lanes"], roof["read_gb_s"], load,
                         "; ".join("%s %.0f / %.1f tok/s" % (row[k]["label"], row[k]["prefill_tok_s"],
                                                             row[k]["decode_tok_s"])
                                   for k in impls)), flush=True)
            del tm
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    # a roof measured while other jobs ran is too low: use the best seen at each thread count
    roofs = {}
    for r in results:
        best = roofs.setdefault(r["threads"], dict(r["roofs"]))
        for k in ("fma_gflop_s", "read_gb_s", "fma8_gflop_s"):
            best[k] = max(best[k], r["roofs"][k])
        if r["roofs"]["fma_gflop_s"] >= best["fma_gflop_s"]:
            best["fma_lanes"] = r["roofs"]["fma_lanes"]
    for r in results:
        roof = roofs[r["threads"]]
        for k in r["impls"]:
            r[k]["prefill_of_fma_peak"] = r[k]["prefill_gflop_s"] / roof["fma_gflop_s"]
            r[k]["decode_of_read_bw"] = r[k]["decode_weight_gb_s"] / roof["read_gb_s"]

    print()
    print(machine_line(info))
    print("prefill: one forward over %d tokens, all logits; decode: %d steps after a %d-token "
          "prompt; best of %d rounds x %d runs, the implementations alternating"
          % (n, steps, prompt, args.rounds, args.reps))
    hdr = "%-7s %3s %-20s %9s %7s %5s %9s %7s %6s %6s %6s  %-24s %5s" % (
        "model", "thr", "implementation", "prefill/s", "GF/s", "%FMA", "decode/s", "GB/s",
        "%DRAM", "xfc/p", "xfc/d", "logits agree (max rel)", "load")
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        x = r["xfc"]
        for k in r["impls"]:
            i = r[k]
            a = i["agreement"]
            agree = "-" if a is None else "%.1e vs %s" % (a["max_rel"], a["vs"])
            print("%-7s %3d %-20s %9.1f %7.1f %4.0f%% %9.1f %7.2f %5.0f%% %6.2f %6.2f  %-24s %5.1f" % (
                r["model"], r["threads"], i["label"], i["prefill_tok_s"], i["prefill_gflop_s"],
                100 * i["prefill_of_fma_peak"], i["decode_tok_s"], i["decode_weight_gb_s"],
                100 * i["decode_of_read_bw"], x["prefill_tok_s"] / i["prefill_tok_s"],
                x["decode_tok_s"] / i["decode_tok_s"], agree, r["loadavg"]))
    print("prefill/s, decode/s: tokens/s. xfc/p, xfc/d: xfc's tokens/s over the row's (prefill, "
          "decode; above 1: xfc faster), same run.")
    print("GF/s: prefill tokens/s x FLOPs/token (xfc --stats); %FMA: of the FMA roof. GB/s: "
          "decode tokens/s x the matrix bytes a step reads in the row's weight format; %DRAM: "
          "of the streaming-read roof.")
    print("logits agree: max|logits - reference| / max|reference| over the prefill's %d rows "
          "and the %d decode steps; peers are timed only within %g of xfc."
          % (n, steps, PEER_TOL))
    if accuracy:
        print()
        print("reduced-precision weights against the same implementation's F32, same weights:")
        hdr3 = "%-7s %-22s %-14s %14s %8s" % ("model", "format", "against", "max rel error",
                                               "top-1")
        print(hdr3)
        print("-" * len(hdr3))
        for a in accuracy:
            print("%-7s %-22s %-14s %14.2e %7.1f%%" % (a["model"], a["impl"], a["vs"],
                                                       a["max_rel"], 100 * a["top1"]))
    if any("xfc_no_fuse" in r for r in results):
        print()
        print("fused (default) against xfc --no-fuse, same run:")
        hdr2 = "%-6s %-8s %7s %11s %13s %6s %16s %16s" % (
            "model", "phase", "threads", "fused tok/s", "no-fuse tok/s", "ratio",
            "kernels/call f|nf", "barriers f|nf")
        print(hdr2)
        print("-" * len(hdr2))
        for r in results:
            if "xfc_no_fuse" not in r:
                continue
            for phase, wk in (("prefill", "forward"), ("decode", "decode")):
                f, u = r["xfc"][phase + "_tok_s"], r["xfc_no_fuse"][phase + "_tok_s"]
                wf, wu = r["work"]["fused"][wk], r["work"]["no_fuse"][wk]
                print("%-6s %-8s %7d %11.1f %13.1f %6.2f %16s %16s" % (
                    r["model"], phase, r["threads"], f, u, f / u,
                    "%d | %d" % (wf["kernels"], wu["kernels"]),
                    "%d | %d" % (wf["barriers"], wu["barriers"])))
        print("each call opens %s parallel region(s) fused and unfused." % ", ".join(sorted(set(
            str(w[p]["regions"]) for r in results for w in r["work"].values() for p in w))))
    for m in notes:
        print(m)
    print("roofs (bench/peak.c, best seen this run): " + "; ".join(
        "%d thread%s: FMA %.0f GFLOP/s (%d lanes; 8 lanes %.0f), read %.1f GB/s (%d MiB buffer)"
        % (nt, "" if nt == 1 else "s", roofs[nt]["fma_gflop_s"], roofs[nt]["fma_lanes"],
           roofs[nt]["fma8_gflop_s"], roofs[nt]["read_gb_s"], roofs[nt]["read_mib"])
        for nt in sorted(roofs)))
    print("load: 1-minute load average when the row started (%d cpus, shared with other jobs)."
          % os.cpu_count())
    elapsed = time.perf_counter() - t_start
    print("this run took %.0f s (conversions included, or read from the cache)" % elapsed)
    if args.json:
        for r in results:
            for k in r["impls"]:
                r[k].pop("run", None)
        with open(args.json, "w") as f:
            json.dump(dict(machine=info, roofs=roofs, config=dict(BASE, prompt=prompt, steps=steps,
                                                     reps=args.reps, rounds=args.rounds,
                                                     torch_matmul=args.torch_matmul,
                                                     peers=sorted(peers_on),
                                                     peer_tolerance=PEER_TOL),
                           results=results, accuracy=accuracy, notes=notes,
                           elapsed_s=elapsed), f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
