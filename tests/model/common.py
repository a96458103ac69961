"""Shared steps of the real-model tests: convert with tools/hf2xf.py, compile
with xfc and a C compiler, run tests/model/run_forward.c, read its output."""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import hf2xf  # noqa: E402


def test_args(argv, prefix):
    """The command line every real-model test takes (--xfc, --workdir, --cc);
    returns the parsed arguments and the work folder (made, or a new temporary
    one named after prefix)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--xfc", required=True)
    ap.add_argument("--workdir")
    ap.add_argument("--cc", default="cc")
    a = ap.parse_args(argv)
    work = a.workdir or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(work, exist_ok=True)
    return a, work


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}")
    return r.stdout


def convert(hf_dir, out_dir, name, context=None):
    """Runs the converter as a user would (a subprocess), returns (xf, weights)."""
    cmd = [sys.executable, os.path.join(ROOT, "tools", "hf2xf.py"), hf_dir, "-o", out_dir, "--name", name]
    if context:
        cmd += ["--context", str(context)]
    run(cmd)
    return os.path.join(out_dir, name + ".xf"), os.path.join(out_dir, name + ".safetensors")


def build(xfc, xf, work, name, cc="cc", extra=()):
    """xfc NAME.xf -o work/NAME.c, then the run_forward driver against it."""
    c = os.path.join(work, name + ".c")
    run([xfc, xf, "-o", c])
    exe = os.path.join(work, "run_" + name)
    run([cc, "-std=c11", "-O2", "-fopenmp", f"-DXF_MODEL={name}", "-I", work,
         "-I", os.path.join(ROOT, "examples"), c, os.path.join(HERE, "run_forward.c"),
         *extra, "-lm", "-o", exe])
    return exe


def forward(exe, weights, commands, out_dim, work, threads=2):
    """commands: list of ("f", [tokens]) or ("d", [token]); returns one array per command."""
    script = os.path.join(work, "script.txt")
    with open(script, "w") as f:
        for kind, toks in commands:
            f.write(f"{kind} {','.join(str(t) for t in toks)}\n")
    out = os.path.join(work, "out.bin")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    run([exe, weights, script, out], env=env)
    flat = np.fromfile(out, dtype="<f4")
    res, off = [], 0
    for kind, toks in commands:
        rows = len(toks) if kind == "f" else 1
        res.append(flat[off:off + rows * out_dim].reshape(rows, out_dim))
        off += rows * out_dim
    if off != flat.size:
        raise RuntimeError(f"run_forward wrote {flat.size} floats, expected {off}")
    return res


def max_err(c, ref):
    """(max |c - ref|, the limit 1e-4 * max(1, max |ref|))."""
    ref = np.asarray(ref, dtype=np.float64)
    return float(np.max(np.abs(np.asarray(c, np.float64) - ref))), 1e-4 * max(1.0, float(np.max(np.abs(ref))))
