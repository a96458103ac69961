#!/usr/bin/python3
"""weight_accuracy.py - how far `xfc --weights bf16|q8` moves the logits.

The bench's llama model (bench/run_bench.py: vocab 4096, dim 512, 8 layers)
with `xfc --init-weights --seed 1` weights is compiled three times (f32, bf16,
q8; clang -O3 -march=native -fopenmp) with tests/numeric/harness.c, and each
build runs the same forward over PROMPT tokens followed by STEPS decode steps.
For bf16 and q8 it prints, against the f32 build:

  max rel. logit error   max over output rows of max|l - l_f32| / max|l_f32|
  mean rel. logit error  the mean over rows of the same ratio
  top-1 agreement        the share of rows whose largest logit is at the same token

and, as a check that each build computes its format exactly, the largest
difference from the PyTorch reference given the same w' (tests/reference,
which must stay within the numeric tests' 1e-4 tolerance).

  /usr/bin/python3 bench/weight_accuracy.py --xfc build/xfc [--prompt 128] [--steps 64]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import run_bench  # noqa: E402
import st_io  # noqa: E402
import xfref  # noqa: E402


def machine():
    info = {}
    try:
        for line in open("/proc/cpuinfo"):
            k, _, v = line.partition(":")
            info.setdefault(k.strip(), v.strip())
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    isa = [f for f in ("avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx2", "fma")
           if f in flags]
    return (f"{info.get('model name', 'unknown CPU')} (family {info.get('cpu family', '?')} model "
            f"{info.get('model', '?')}), {' '.join(isa) or 'no x86 vector flags'}, {os.cpu_count()} cores, "
            f"L3 {l3_mib()}")


def l3_mib():
    try:
        out = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout
        return next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("L3"))
    except (OSError, StopIteration):
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--xfc", required=True)
    ap.add_argument("--model", default="llama", choices=sorted(run_bench.MODELS))
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir")
    ap.add_argument("--no-reference", action="store_true", help="skip the check against xfref")
    a = ap.parse_args()
    d = a.workdir or tempfile.mkdtemp(prefix="xf_wacc_")
    os.makedirs(d, exist_ok=True)
    xf = os.path.join(d, f"bench_{a.model}.xf")
    with open(xf, "w") as f:
        f.write(run_bench.xf_source(a.model, run_bench.MODELS[a.model]))
    m = xfref.parse_file(xf)
    w = os.path.join(d, "w.safetensors")
    subprocess.run([a.xfc, xf, "--init-weights", w, "--seed", str(a.seed)], check=True)
    rng = np.random.default_rng(a.seed)
    prompt = rng.integers(0, m.vocab, size=a.prompt).tolist()
    decode = rng.integers(0, m.vocab, size=a.steps).tolist()
    script = os.path.join(d, "script.txt")
    with open(script, "w") as f:
        f.write("forward " + ",".join(map(str, prompt)) + "\n")
        f.write("".join(f"decode {t}\n" for t in decode))
    rows = a.prompt + a.steps
    out = {}
    for wf in xfref.WEIGHT_FORMATS:
        c = os.path.join(d, wf, m.name + ".c")
        os.makedirs(os.path.dirname(c), exist_ok=True)
        subprocess.run([a.xfc, xf, "-o", c, "--weights", wf], check=True)
        exe = os.path.join(d, wf, "harness")
        cc = ["clang", "-std=c11", "-O3", "-march=native", "-fopenmp"]
        subprocess.run(cc + ["-c", c, "-o", exe + ".o"], check=True)
        subprocess.run(cc + [f"-DXF_MODEL={m.name}", "-include", c[:-2] + ".h",
                             os.path.join(ROOT, "tests", "numeric", "harness.c"), exe + ".o", "-o", exe, "-lm"],
                       check=True)
        o = os.path.join(d, wf, "out.bin")
        subprocess.run([exe, w, script, o], check=True, stdout=subprocess.DEVNULL)
        out[wf] = np.fromfile(o, dtype="<f4").reshape(rows, m.out_dim).astype(np.float64)
    ref_err = {}
    if not a.no_reference:
        wt = st_io.read(w)
        for wf in xfref.WEIGHT_FORMATS:
            r = xfref.Reference(m, wt, weight_format=wf)
            want = np.concatenate([r.forward(prompt)] + [r.decode(t)[None, :] for t in decode]).astype(np.float64)
            ref_err[wf] = float(np.max(np.abs(out[wf] - want))) / max(1.0, float(np.max(np.abs(want))))
    base = out["f32"]
    print(f"model bench_{a.model}: vocab {m.vocab}, dim {m.dim}, {len(m.instances)} layers; "
          f"xfc --init-weights --seed {a.seed}; forward over {a.prompt} tokens + {a.steps} decode steps "
          f"({rows} logit rows)")
    print(f"machine: {machine()}")
    print(f"{'format':8} {'max rel. err':>13} {'mean rel. err':>14} {'top-1 agree':>12} {'vs xfref':>10}")
    for wf in xfref.WEIGHT_FORMATS:
        rel = np.max(np.abs(out[wf] - base), axis=1) / np.max(np.abs(base), axis=1)
        top1 = float(np.mean(np.argmax(out[wf], axis=1) == np.argmax(base, axis=1)))
        ref = f"{ref_err[wf]:.2g}" if wf in ref_err else "-"
        print(f"{wf:8} {float(np.max(rel)):13.3g} {float(np.mean(rel)):14.3g} {100 * top1:11.1f}% {ref:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
