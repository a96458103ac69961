#!/usr/bin/python3
"""End-to-end numeric test of xfc-generated C against the PyTorch reference.

How to run (always /usr/bin/python3: it is the interpreter with torch):

  # one model: weights from `xfc --init-weights`, compile, compare forward and
  # decode logits with tests/reference/xfref.py, check that OMP_NUM_THREADS=1,2,3
  # give bitwise-identical logits, check bad inputs and bad weight files
  /usr/bin/python3 tests/numeric/run_numeric.py examples/llama.xf --xfc build/xfc
  #   --seed N          weights and tokens seed (default 1); on a routing
  #                     near-tie the next seeds are tried (--seed-tries, default 6)
  #   --threads 1,2,3   OMP_NUM_THREADS values that must agree bitwise
  #   --cc LIST         build variants: clang (-O2 -fopenmp, the default with
  #                     clang-noomp), clang-native (-O3 -march=native), gcc,
  #                     clang-noomp / gcc-noomp (no -fopenmp)
  #   --sanitize        also build with -fsanitize=address,undefined and run
  #                     everything under it (--sanitize-only: that build alone)
  #   --workdir DIR     keep generated files there (default: a temp dir, kept
  #                     only when something fails)
  #   --weights W       use this safetensors file instead of xfc --init-weights
  #   --py-weights      use the reference's own random weights (--misalign:
  #                     tensor data at offsets that are not 4-byte aligned)
  #   --weight-format F xfc --weights F (f32, bf16, q8): the reference then
  #                     computes with each matrix's stored value w' (SPEC §3)
  #   --file-dtype D    xfc --init-weights writes D (F32, BF16, F16; --init-dtype),
  #                     checked against the F32 file rounded to nearest even
  #   --quick           fewer decode steps;  --no-bisect  see below
  # On a mismatch the model is cut after k sublayers (xfref.model_text, same
  # weight names) and bisected, to name the first sublayer that disagrees.

  # randomized small configurations (random_configs.py --list shows coverage)
  /usr/bin/python3 tests/numeric/random_configs.py --xfc build/xfc [--shard 0/5] [--only 7]
  # crafted weights: exact routing ties, capacity drops, r == decode_threshold
  /usr/bin/python3 tests/numeric/crafted.py --xfc build/xfc [--only mod_ties]
  # several generated models linked into one program
  /usr/bin/python3 tests/numeric/link_models.py --xfc build/xfc examples/*.xf
  # the reference's own self-tests (no C compiler needed)
  /usr/bin/python3 tests/reference/test_xfref.py
  # the reference on its own
  /usr/bin/python3 tests/reference/xfref.py M.xf W.safetensors --tokens 1,2,3 --decode 4,5 --out l.bin
  # everything through CTest (tests/numeric/tests.cmake): numeric.reference_selftest,
  # numeric.example.NAME and numeric.asan.NAME per examples/*.xf, numeric.random.K,
  # numeric.crafted.CASE, numeric.link_examples
  ctest --test-dir build -L numeric

Exit status: 0 pass; 1 failure (mismatch, bad return code, build error, ...);
77 inconclusive: logits disagree only in cases where the reference saw a routing
near-tie (CTest reports 77 as skipped, loudly, not as a pass).

Tolerance: per command output (a forward's [n][vocab] or a decode's [vocab]),
max |C - ref| <= 1e-4 * max(1, max |ref|). The worst element is printed on failure.
Fusion: the model is also generated with `xfc --no-fuse` and built like the first
--cc variant; it must match the reference too, and the fused build within
1e-5 * max(1, max |ref|) per command output.
Near-tie: a routing decision (moe top-k, and rank order when capacity drops;
mod top-k and decode threshold; sparse_ffn argmax) whose margin is at most
--tie-tol (1e-5) times the size of the scores compared (|x|·|w| bounds).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import st_io  # noqa: E402
import xfref  # noqa: E402

HARNESS = os.path.join(HERE, "harness.c")
FUSE_TOL = 1e-5      # fused (default) against `xfc --no-fuse` code, relative to max(1, max |ref|)
EXIT_PASS, EXIT_FAIL, EXIT_INCONCLUSIVE = 0, 1, 77


class Result:
    def __init__(self, name):
        self.name = name
        self.failures = []       # strings
        self.inconclusive = []   # strings
        self.notes = []          # strings
        self.exact_ties = 0      # routing decisions the spec's tie rule settled
        self.near_ties = 0
        self.drops = 0           # moe assignments dropped by capacity, over the plan

    def fail(self, msg):
        self.failures.append(msg)

    @property
    def status(self):
        if self.failures:
            return EXIT_FAIL
        if self.inconclusive:
            return EXIT_INCONCLUSIVE
        return EXIT_PASS


def _run(cmd, env=None, timeout=300, cwd=None):
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                       timeout=timeout, cwd=cwd)
    return p.returncode, p.stdout.decode("utf-8", "replace"), time.time() - t0


# ---------------------------------------------------------------- test plan

def exact_count_lengths(m):
    """Sequence lengths T <= context at which a capacity count is an exact
    integer (c·T for mod, c·T·top_k/experts for moe), where computing it in
    floating point instead of exactly can round up one too many (0.3·10)."""
    from fractions import Fraction
    out = set()
    for ins in m.instances:
        fr = []
        if ins.mod is not None:
            fr.append(Fraction(ins.mod["capacity"]))
        if ins.mod is None:       # inside a mod instance T is the routed count
            for s in ins.subs:
                if s.kind == "moe" and s.p["capacity"] > 0:
                    fr.append(Fraction(s.p["capacity"]) * s.p["top_k"] / s.p["experts"])
        for f in fr:
            T = (m.context // f.denominator) * f.denominator
            if T >= 1 and (f * T).denominator == 1 and f.denominator > 1:
                out.add(T)
    return sorted(out)[-2:]


def make_plan(m, rng, quick=False):
    """Groups of commands. A group is (label, [cmds]); a cmd is
    ("forward", [tokens]) | ("decode", token) | ("reset",)."""
    C = m.context
    def toks(n):
        return rng.integers(0, m.vocab, size=n).tolist()
    mid = max(1, (C + 1) // 2 + (1 if C > 4 else 0))
    groups = []
    lengths = sorted(set([1, mid, C] + exact_count_lengths(m)))
    decode = not m.has_bidirectional
    for n in lengths:
        groups.append((f"forward T={n}", [("forward", toks(n))]))
    if decode:
        for n in sorted(set([1, mid, max(1, C - 3)])):
            if n >= C:
                continue
            steps = min(4 if not quick else 2, C - n)
            label = f"forward T={n} + decode p={n}..{n + steps - 1}"
            groups.append((label, [("forward", toks(n))] + [("decode", t) for t in toks(steps)]))
        steps = min(3, C)
        groups.append((f"reset + decode p=0..{steps - 1}", [("reset",)] + [("decode", t) for t in toks(steps)]))
    return groups


def script_text(groups):
    out = []
    for _, cmds in groups:
        for c in cmds:
            if c[0] == "forward":
                out.append("forward " + ",".join(str(t) for t in c[1]))
            elif c[0] == "decode":
                out.append(f"decode {c[1]}")
            else:
                out.append("reset")
    return "\n".join(out) + "\n"


def run_reference(m, weights, groups, tie_tol, weight_format="f32"):
    """Returns list per group of (list of outputs [rows, V], ties, stats)."""
    ref = xfref.Reference(m, weights, tie_tol=tie_tol, weight_format=weight_format)
    res = []
    for label, cmds in groups:
        outs = []
        ref.clear_ties()
        ref.stats = {}
        for c in cmds:
            if c[0] == "forward":
                outs.append(ref.forward(c[1]))
            elif c[0] == "decode":
                outs.append(ref.decode(c[1])[None, :])
            else:
                ref.reset()
        res.append((outs, list(ref.ties), dict(ref.stats)))
    return res


def split_outputs(flat, groups, V):
    """Splits the harness's flat float32 output into per-command arrays."""
    res, off = [], 0
    for _, cmds in groups:
        outs = []
        for c in cmds:
            rows = len(c[1]) if c[0] == "forward" else 1 if c[0] == "decode" else 0
            if rows:
                outs.append(flat[off:off + rows * V].reshape(rows, V))
                off += rows * V
        res.append(outs)
    return res, off


def compare(c_out, r_out, tol):
    """Returns (ok, err, limit, worst (row, col), c value, ref value)."""
    if c_out.shape != r_out.shape:
        return False, float("inf"), 0.0, (0, 0), None, None
    d = np.abs(c_out.astype(np.float64) - r_out.astype(np.float64))
    d = np.where(np.isnan(d), np.inf, d)
    lim = tol * max(1.0, float(np.max(np.abs(r_out))))
    idx = np.unravel_index(int(np.argmax(d)), d.shape)
    err = float(d[idx])
    return err <= lim, err, lim, idx, float(c_out[idx]), float(r_out[idx])


# ---------------------------------------------------------------- building

def xfc_generate(xfc, xf, outdir, name, flags=()):
    os.makedirs(outdir, exist_ok=True)
    cpath = os.path.join(outdir, name + ".c")
    rc, out, _ = _run([xfc, xf, "-o", cpath] + list(flags))
    if rc != 0:
        return None, f"xfc {xf} -o {cpath} {' '.join(flags)} failed (exit {rc}):\n{out}"
    if not (os.path.exists(cpath) and os.path.exists(os.path.join(outdir, name + ".h"))):
        return None, f"xfc did not write {name}.c and {name}.h in {outdir}"
    return cpath, None


CC_VARIANTS = {
    # name: (compiler, extra flags)
    # clang and gcc force every kernel's parallel loop on (XFRT_PAR_MIN_WORK=0):
    # these small models would otherwise stay under the runtime's work
    # threshold and the thread checks would not exercise any parallel path.
    "clang": ("clang", ["-O2", "-fopenmp", "-DXFRT_PAR_MIN_WORK=0"]),
    "clang-native": ("clang", ["-O3", "-march=native", "-fopenmp"]),      # SPEC §1's build line
    "gcc": ("gcc", ["-O2", "-fopenmp", "-DXFRT_PAR_MIN_WORK=0"]),
    "clang-noomp": ("clang", ["-O2"]),
    "gcc-noomp": ("gcc", ["-O2"]),
    "asan": ("clang", ["-O1", "-g", "-fopenmp", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                       "-fno-sanitize-recover=all"]),
}


def compile_cmd(variant, cpath, name, exe):
    """One shell command: the generated file on its own (exactly as a user
    would compile it), then the harness with the header, then the link."""
    cc, flags = CC_VARIANTS[variant]
    hdr = os.path.join(os.path.dirname(cpath), name + ".h")
    obj = exe + ".model.o"
    q = lambda a: "'" + a.replace("'", "'\\''") + "'"      # noqa: E731
    f = " ".join(flags)
    return (f"{cc} -std=c11 {f} -c {q(cpath)} -o {q(obj)} && "
            f"{cc} -std=c11 {f} -DXF_MODEL={name} -include {q(hdr)} {q(HARNESS)} {q(obj)} -o {q(exe)} -lm")


def build_all(variants, cpath, name, workdir):
    """Compiles every variant in parallel; returns {variant: exe or error string}."""
    procs = {}
    for v in variants:
        exe = os.path.join(workdir, f"harness_{v}")
        cmd = compile_cmd(v, cpath, name, exe)
        procs[v] = (exe, cmd, subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    res = {}
    for v, (exe, cmd, p) in procs.items():
        out, _ = p.communicate(timeout=600)
        if p.returncode != 0:
            res[v] = "error: " + cmd + "\n" + out.decode("utf-8", "replace")[-4000:]
        else:
            res[v] = exe
    return res


def run_harness(exe, weights, script, outbin, threads, sanitize=False):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    if sanitize:
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:halt_on_error=1"
        env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    if os.path.exists(outbin):
        os.remove(outbin)
    return _run([exe, weights, script, outbin], env=env)


# ---------------------------------------------------------------- weights

def check_weight_names(m, path, res, dtype="F32"):
    """The tensors xfc --init-weights wrote must be exactly SPEC §4's."""
    hdr, _ = st_io.read_header(path)
    want = {n: tuple(s) for n, s, _ in xfref.weight_specs(m)}
    ok = True
    for n, s in want.items():
        if n not in hdr:
            res.fail(f"weights: xfc --init-weights wrote no tensor {n} (SPEC §4 requires {list(s)})")
            ok = False
        elif tuple(hdr[n]["shape"]) != s or hdr[n]["dtype"] != dtype:
            res.fail(f"weights: {n} is {hdr[n]['dtype']}{hdr[n]['shape']}, expected {dtype}{list(s)}")
            ok = False
    extra = sorted(set(hdr) - set(want))
    if extra:
        res.notes.append(f"weights: xfc --init-weights wrote tensors SPEC §4 does not name: {extra[:8]}")
    return ok


def make_weights(m, xfc, xf, path, seed, use_py, res, misalign=False, dtype="F32"):
    if use_py:
        st_io.write(path, xfref.random_weights(m, seed), misalign=misalign, dtype=dtype)
        return True
    rc, out, _ = _run([xfc, xf, "--init-weights", path, "--seed", str(seed), "--init-dtype", dtype])
    if rc != 0 or not os.path.exists(path):
        res.fail(f"xfc --init-weights failed (exit {rc}): {out.strip()[:2000]}")
        return False
    if not check_weight_names(m, path, res, dtype):
        return False
    if dtype != "F32":
        # the same seed's F32 file, rounded to nearest even here, is what xfc wrote
        f32 = path + ".f32"
        rc, out, _ = _run([xfc, xf, "--init-weights", f32, "--seed", str(seed)])
        if rc != 0:
            res.fail(f"xfc --init-weights (F32) failed (exit {rc}): {out.strip()[:2000]}")
            return False
        a, b = st_io.read(f32), st_io.read(path)
        for n in a:
            want = (torch.from_numpy(a[n]).to(torch.bfloat16).float().numpy() if dtype == "BF16"
                    else a[n].astype(np.float16).astype(np.float32))
            if not np.array_equal(want, b[n]):
                i = int(np.argmax((want != b[n]).reshape(-1)))
                res.fail(f"weights: xfc --init-dtype {dtype}: {n}[{i}] is {b[n].reshape(-1)[i]!r}, "
                         f"the F32 value {a[n].reshape(-1)[i]!r} rounds to {want.reshape(-1)[i]!r}")
                return False
        os.remove(f32)
    return True


def bad_weight_files(m, weights_path, workdir):
    """Files that NAME_open must refuse (SPEC §4). Returns [(label, path,
    tensor name the message must contain or None)]."""
    t = st_io.read(weights_path)
    specs = xfref.weight_specs(m)
    out = [("missing file", os.path.join(workdir, "does_not_exist.safetensors"), None)]
    p = os.path.join(workdir, "bad_missing.safetensors")
    victim = specs[len(specs) // 2][0]
    st_io.write(p, {k: v for k, v in t.items() if k != victim})
    out.append((f"missing tensor {victim}", p, victim))
    p = os.path.join(workdir, "bad_shape.safetensors")
    tt = dict(t)
    tt[victim] = np.zeros((int(np.prod(t[victim].shape)) + 1,), np.float32)
    st_io.write(p, tt)
    out.append((f"wrong shape for {victim}", p, victim))
    # header edits on the valid file: a wrong dtype of the same width, and two
    # tensors of the same size sharing one data range
    import json
    hdr, start = st_io.read_header(weights_path)
    with open(weights_path, "rb") as f:
        data = f.read()[start:]

    def rewrite(fname, edit):
        h = json.loads(json.dumps(hdr))
        edit(h)
        text = json.dumps(h).encode()
        with open(os.path.join(workdir, fname), "wb") as f:
            f.write(len(text).to_bytes(8, "little") + text + data)
        return os.path.join(workdir, fname)

    out.append((f"dtype I32 for {victim}",
                rewrite("bad_dtype.safetensors", lambda h: h[victim].update(dtype="I32")), victim))
    by_size = {}
    pair = None
    for n, info in sorted(hdr.items()):
        sz = info["data_offsets"][1] - info["data_offsets"][0]
        if sz in by_size and sz > 0:
            pair = (by_size[sz], n)
            break
        by_size[sz] = n
    if pair:
        out.append((f"{pair[1]} overlapping {pair[0]}",
                    rewrite("bad_overlap.safetensors",
                            lambda h: h[pair[1]].update(data_offsets=list(h[pair[0]]["data_offsets"]))),
                    pair[1]))
    p = os.path.join(workdir, "bad_truncated.safetensors")
    with open(weights_path, "rb") as f:
        data = f.read()
    with open(p, "wb") as f:
        f.write(data[:len(data) - 4])
    out.append(("truncated file", p, None))
    p = os.path.join(workdir, "bad_json.safetensors")
    with open(p, "wb") as f:
        hdr = b'{"embed": {"dtype": "F32", '
        f.write(len(hdr).to_bytes(8, "little") + hdr + b"\0" * 64)
    out.append(("header not valid JSON", p, None))
    p = os.path.join(workdir, "bad_hdrlen.safetensors")
    with open(p, "wb") as f:
        f.write((1 << 62).to_bytes(8, "little") + b"{}")
    out.append(("header length past the end", p, None))
    return out


# ---------------------------------------------------------------- main flow

def run_model(xf, xfc, seed=1, threads=(1, 2, 3), ccs=("clang", "clang-noomp"), workdir=None,
              weights=None, py_weights=False, sanitize=False, seed_tries=6, tol=1e-4, tie_tol=1e-5,
              bad_inputs=True, quick=False, label=None, verbose=True, prepare_weights=None, misalign=False,
              bisect=True, weight_format="f32", file_dtype="F32"):
    """Runs the whole check for one model file; returns a Result.

    prepare_weights: optional fn(model, seed) -> {name: array} (crafted tests).
    misalign: with py_weights or prepare_weights, write tensor data at offsets
    that are not 4-byte aligned (SPEC §4 says they must be accepted).
    weight_format: xfc --weights (the reference computes with w');
    file_dtype: the dtype of the weights file written (F32, BF16, F16)."""
    res = Result(label or os.path.basename(xf))
    try:
        m = xfref.parse_file(xf)
    except xfref.XfRefError as e:
        res.fail(f"the reference cannot read {xf}: {e}")
        return res
    own_tmp = workdir is None
    if own_tmp:
        workdir = tempfile.mkdtemp(prefix=f"xfnum_{m.name}_")
    os.makedirs(workdir, exist_ok=True)
    say = print if verbose else (lambda *a, **k: None)
    try:
        _run_model(m, xf, xfc, seed, threads, ccs, workdir, weights, py_weights, sanitize, seed_tries,
                   tol, tie_tol, bad_inputs, quick, res, say, prepare_weights, misalign, bisect,
                   weight_format, file_dtype)
    except Exception as e:      # a crash in the driver is a failure, with its traceback
        import traceback
        res.fail(f"driver exception: {e}\n{traceback.format_exc()}")
    finally:
        if own_tmp and res.status == EXIT_PASS:
            shutil.rmtree(workdir, ignore_errors=True)
        elif own_tmp:
            res.notes.append(f"files kept in {workdir}")
    return res


def _families(m):
    fam = set()
    for ins in m.instances:
        if ins.mod:
            fam.add("mod")
        for s in ins.subs:
            fam.add(s.kind)
            if s.kind == "attention":
                if s.p["bidirectional"]:
                    fam.add("bidirectional")
                if s.p["window"]:
                    fam.add("window")
            if s.kind == "moe" and s.p["capacity"] > 0:
                fam.add("moe-capacity")
    return ",".join(sorted(fam))


def _run_model(m, xf, xfc, seed, threads, ccs, workdir, weights_arg, py_weights, sanitize, seed_tries,
               tol, tie_tol, bad_inputs, quick, res, say, prepare_weights, misalign, bisect,
               wf, file_dtype):
    name = m.name
    say(f"== {res.name}: model {name} (vocab {m.vocab}, dim {m.dim}, context {m.context}, "
        f"{len(m.instances)} block instances; {_families(m)}; --weights {wf}, {file_dtype} file)")
    wflags = [] if wf == "f32" else ["--weights", wf]

    # 1. generate C first (it does not depend on the seed); build in the background
    cpath, err = xfc_generate(xfc, xf, workdir, name, wflags)
    if err:
        res.fail(err)
        return
    variants = list(ccs) + (["asan"] if sanitize else [])

    # 2. weights and plan: try seeds until the reference sees no routing near-tie
    wpath = os.path.join(workdir, "weights.safetensors")
    chosen = None
    tries = 1 if weights_arg else max(1, seed_tries)
    for attempt in range(tries):
        s = seed + attempt
        if weights_arg:
            wpath = weights_arg
        elif prepare_weights is not None:
            st_io.write(wpath, prepare_weights(m, s), misalign=misalign, dtype=file_dtype)
        elif not make_weights(m, xfc, xf, wpath, s, py_weights, res, misalign, file_dtype):
            return
        w = st_io.read(wpath)
        try:
            xfref.check_weights(m, w)
        except xfref.XfRefError as e:
            res.fail(f"weights: {e}")
            return
        groups = make_plan(m, np.random.default_rng(1000 + s), quick)
        refs = run_reference(m, w, groups, tie_tol, wf)
        near = [t for (_, ties, _) in refs for t in ties if not t.exact]
        if chosen is None or len(near) < chosen[3]:
            chosen = (s, groups, refs, len(near), open(wpath, "rb").read() if attempt + 1 < tries else None)
        if not near:
            break
        if attempt + 1 < tries:
            say(f"   seed {s}: {len(near)} routing near-tie(s) in the reference, e.g. {near[0]}; trying the next seed")
    s, groups, refs, _, wbytes = chosen
    if wbytes is not None and s != seed + tries - 1 and not weights_arg:
        with open(wpath, "wb") as f:         # the best seed was not the last one tried
            f.write(wbytes)
    n_exact = sum(1 for (_, ties, _) in refs for t in ties if t.exact)
    n_near = sum(1 for (_, ties, _) in refs for t in ties if not t.exact)
    say(f"   seed {s}; {sum(len(c) for _, c in groups)} commands in {len(groups)} cases; "
        f"exact ties resolved by the spec: {n_exact}; near-ties: {n_near}")
    if n_near:
        say(f"   !!! NEAR-TIES REMAIN after {tries} seed(s): C and torch may legitimately route differently;"
            f" e.g. {[t for (_, ties, _) in refs for t in ties if not t.exact][0]}")
    drops = sum(sum(st.get("moe drops", [])) for (_, _, st) in refs)
    res.exact_ties, res.near_ties, res.drops = n_exact, n_near, drops
    if m.has_capacity:
        say(f"   moe capacity drops exercised: {drops} assignment(s)")
        res.notes.append(f"moe drops: {drops}")

    script = os.path.join(workdir, "script.txt")
    with open(script, "w") as f:
        f.write(script_text(groups))

    build = build_all(variants, cpath, name, workdir)
    # the same model with `xfc --no-fuse`, built like the first variant
    nofuse_v = variants[0] if variants else None
    nofuse_exe = None
    if nofuse_v:
        ndir = os.path.join(workdir, "nofuse")
        npath, err = xfc_generate(xfc, xf, ndir, name, ["--no-fuse"] + wflags)
        if err:
            res.fail(err)
        else:
            nofuse_exe = build_all([nofuse_v], npath, name, ndir)[nofuse_v]
            if nofuse_exe.startswith("error:"):
                res.fail(f"[{nofuse_v} --no-fuse] build failed: {nofuse_exe[7:]}")
                nofuse_exe = None

    # 3. run each build, each thread count
    V = m.out_dim
    fused_outs = None
    for v in variants:
        exe = build[v]
        if exe.startswith("error:"):
            res.fail(f"[{v}] build failed: {exe[7:]}")
            continue
        tlist = [1] if v.endswith("noomp") else [2] if v == "asan" else list(threads)
        first_bytes = None
        for nt in tlist:
            outbin = os.path.join(workdir, f"out_{v}_{nt}.bin")
            rc, out, secs = run_harness(exe, wpath, script, outbin, nt, sanitize=(v == "asan"))
            tag = f"[{v} threads={nt}]"
            info = [l for l in out.splitlines() if l.startswith("info ")]
            want = f"info vocab={m.vocab} dim={m.dim} context={m.context} out={m.out_dim}"
            if info and info[0] != want:
                res.fail(f"{tag} header macros: {info[0]!r}, expected {want!r}")
            want = f"info weights={wf} weight_bytes={xfref.weight_bytes(m, wf)}"
            if len(info) < 2 or info[1] != want:
                res.fail(f"{tag} header macros: {info[1:2]!r}, expected {want!r}")
            if rc != 0:
                fl = [l for l in out.splitlines() if l.startswith("FAIL") or "ERROR" in l or "runtime error" in l]
                res.fail(f"{tag} harness exit {rc}:\n      " + "\n      ".join((fl or out.splitlines())[-30:]))
                if not os.path.exists(outbin):
                    continue
            data = open(outbin, "rb").read()
            flat = np.frombuffer(data, dtype="<f4")
            outs, used = split_outputs(flat, groups, V)
            if used != flat.size:
                res.fail(f"{tag} harness wrote {flat.size} floats, expected {used}")
                continue
            if first_bytes is None:
                first_bytes = (nt, data)
                _compare_groups(res, tag, groups, outs, refs, tol, say)
                if v == nofuse_v:
                    fused_outs = (tag, nt, outs)
            elif data != first_bytes[1]:
                a = np.frombuffer(first_bytes[1], dtype="<f4")
                i = int(np.argmax(a != flat)) if a.size == flat.size else 0
                res.fail(f"{tag} logits not bitwise identical to threads={first_bytes[0]} "
                         f"(first difference at float {i}: {a[i]!r} vs {flat[i]!r})")
            else:
                say(f"   {tag} bitwise identical to threads={first_bytes[0]} ({secs:.2f}s)")

    # 3b. fused against --no-fuse: both against the reference, and each other
    #     within 1e-5 * max(1, max |ref|) per command output
    if nofuse_exe and fused_outs:
        ftag, nt, f_outs = fused_outs
        outbin = os.path.join(workdir, "nofuse", f"out_{nofuse_v}_{nt}.bin")
        rc, out, _ = run_harness(nofuse_exe, wpath, script, outbin, nt)
        tag = f"[{nofuse_v} --no-fuse threads={nt}]"
        if rc != 0 or not os.path.exists(outbin):
            res.fail(f"{tag} harness exit {rc}:\n      " + "\n      ".join(out.splitlines()[-30:]))
        else:
            n_outs, used = split_outputs(np.fromfile(outbin, dtype="<f4"), groups, V)
            _compare_groups(res, tag, groups, n_outs, refs, tol, say)
            worst = 0.0
            for (label, _), fl, nl, (rl, _, _) in zip(groups, f_outs, n_outs, refs):
                for a, b, r in zip(fl, nl, rl):
                    lim = FUSE_TOL * max(1.0, float(np.max(np.abs(r))))
                    d = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
                    if not d <= lim:
                        res.fail(f"{ftag} vs {tag} {label}: fused and unfused differ by {d:.4g} > {lim:.4g}")
                    worst = max(worst, d / lim)
            say(f"   {ftag} vs {tag}: max |fused - unfused| = {worst:.3g} of the limit "
                f"({FUSE_TOL:g} * max(1, max|ref|))")
            if not nofuse_v.endswith("noomp"):     # the unfused build is bitwise the same on 2 threads
                out2 = os.path.join(workdir, "nofuse", f"out_{nofuse_v}_2.bin")
                rc, out, _ = run_harness(nofuse_exe, wpath, script, out2, 2)
                if rc != 0 or not os.path.exists(out2) or open(out2, "rb").read() != open(outbin, "rb").read():
                    res.fail(f"[{nofuse_v} --no-fuse threads=2] not bitwise identical to threads={nt} (exit {rc})")
                else:
                    say(f"   [{nofuse_v} --no-fuse threads=2] bitwise identical to threads={nt}")

    if bisect and any("MISMATCH" in f or "vs ref" in f for f in res.failures):
        say("   bisecting the model to find the first sublayer that disagrees ...")
        try:
            res.fail(bisect_mismatch(m, xfc, wpath, workdir, tol, tie_tol, say, wf))
        except Exception as e:
            res.notes.append(f"bisect failed: {e}")

    # 4. bad inputs and bad weight files, on the first build that exists
    if bad_inputs:
        good = [v for v in variants if not build[v].startswith("error:")]
        for v in ([v for v in good if v == "asan"] or good[:1]):
            _check_bad_inputs(res, m, build[v], wpath, workdir, v, say, rng=np.random.default_rng(s))


def _compare_groups(res, tag, groups, outs, refs, tol, say):
    for (label, cmds), c_list, (r_list, ties, stats) in zip(groups, outs, refs):
        near = [t for t in ties if not t.exact]
        worst = None
        ci = 0
        p = 0            # cache length, to name decode positions
        for c in cmds:
            if c[0] == "reset":
                p = 0
                continue
            ok, err, lim, idx, cv, rv = compare(c_list[ci], r_list[ci], tol)
            if c[0] == "forward":
                where, pos = f"forward T={len(c[1])}", f"position {idx[0]}"
                p = len(c[1])
            else:
                where, pos = f"decode(token {c[1]})", f"at position {p}"
                p += 1
            if worst is None or err / max(lim, 1e-30) > worst[0]:
                worst = (err / max(lim, 1e-30), err, lim, where, pos, idx, cv, rv, ok)
            ci += 1
        ratio, err, lim, where, pos, idx, cv, rv, ok = worst
        all_ok = ratio <= 1.0
        status = "ok" if all_ok else ("INCONCLUSIVE (near-tie)" if near else "MISMATCH")
        line = f"   {tag} {label}: max err {err:.3g} (limit {lim:.3g}) {status}"
        say(line)
        if not all_ok:
            msg = (f"{tag} {label}: {where} {pos}, vocab {idx[1]}: C {cv!r} vs ref {rv!r}, "
                   f"|err| {err:.4g} > {lim:.4g}")
            if near:
                res.inconclusive.append(msg + "; reference near-ties: " + "; ".join(map(str, near[:3])))
            else:
                res.fail(msg)
        elif near:
            res.notes.append(f"{tag} {label}: agreed despite {len(near)} near-tie(s)")


def _check_bad_inputs(res, m, exe, wpath, workdir, variant, say, rng):
    C = m.context
    n = max(1, min(C - 1, (C + 2) // 3))
    prefix = rng.integers(0, m.vocab, size=n).tolist()
    tok = -1 if m.has_bidirectional else int(rng.integers(0, m.vocab))
    lines = []
    if C >= 2:
        lines.append(f"check_bad {','.join(map(str, prefix))} {tok}")
    bad_files = bad_weight_files(m, wpath, workdir)
    for label, path, _ in bad_files:
        lines.append(f"open_fail {path}")
    script = os.path.join(workdir, "script_bad.txt")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    outbin = os.path.join(workdir, "out_bad.bin")
    rc, out, secs = run_harness(exe, wpath, script, outbin, 2, sanitize=(variant == "asan"))
    tag = f"[{variant}]"
    if rc != 0:
        fl = [l for l in out.splitlines() if l.startswith("FAIL") or "ERROR" in l or "runtime error" in l]
        res.fail(f"{tag} bad-input checks, harness exit {rc}:\n      " + "\n      ".join((fl or out.splitlines())[-30:]))
    else:
        say(f"   {tag} bad inputs (tokens out of range, n = 0/-1/context+1, "
            f"{'decode on a model without decode' if tok < 0 else 'full cache'}) "
            f"and {len(lines) - 1} bad weight files refused: ok")
    msgs = {}
    for l in out.splitlines():
        if l.startswith("open_fail "):
            say("      " + l)
            path, _, msg = l[len("open_fail "):].partition(": ")
            msgs[path] = msg
    for label, path, name in bad_files:
        if name and path in msgs and name not in msgs[path]:
            res.fail(f"{tag} weights with {label}: the message does not name the tensor: {msgs[path]!r}")


def _prefix_fails(m, k, xfc, w, wpath, workdir, tol, tie_tol, wf="f32"):
    """Runs the model cut after k sublayers (xfref.model_text); returns
    (status, message) with status "ok" | "fail" | "near-tie" | "error"."""
    d = os.path.join(workdir, f"bisect_{k}")
    os.makedirs(d, exist_ok=True)
    xf = os.path.join(d, "prefix.xf")
    with open(xf, "w") as f:
        f.write(xfref.model_text(m, k))
    mk = xfref.parse_file(xf)
    cpath, err = xfc_generate(xfc, xf, d, mk.name, [] if wf == "f32" else ["--weights", wf])
    if err:
        return "error", err
    exe = build_all(["clang-noomp"], cpath, mk.name, d)["clang-noomp"]
    if exe.startswith("error:"):
        return "error", exe
    groups = make_plan(mk, np.random.default_rng(7))
    refs = run_reference(mk, w, groups, tie_tol, wf)
    script = os.path.join(d, "script.txt")
    with open(script, "w") as f:
        f.write(script_text(groups))
    outbin = os.path.join(d, "out.bin")
    rc, out, _ = run_harness(exe, wpath, script, outbin, 1)
    if rc != 0 or not os.path.exists(outbin):
        return "fail", f"harness exit {rc}"
    outs, used = split_outputs(np.fromfile(outbin, dtype="<f4"), groups, mk.out_dim)
    sub = Result("bisect")
    _compare_groups(sub, "", groups, outs, refs, tol, lambda *a: None)
    if sub.failures:
        return "fail", sub.failures[0]
    if sub.inconclusive:
        return "near-tie", sub.inconclusive[0]
    return "ok", ""


def bisect_mismatch(m, xfc, wpath, workdir, tol, tie_tol, say, wf="f32"):
    """Finds the shortest prefix of the model (in sublayers) whose logits
    already disagree; returns a description of the sublayer that starts it."""
    w = st_io.read(wpath)
    subs = [(b, s, ins, sub) for b, ins in enumerate(m.instances) for s, sub in enumerate(ins.subs)]
    lo, hi = 0, len(subs)          # prefix lo is taken to agree, prefix hi to disagree
    seen = {}
    while hi - lo > 1:
        mid = (lo + hi) // 2
        st, msg = _prefix_fails(m, mid, xfc, w, wpath, workdir, tol, tie_tol, wf)
        seen[mid] = (st, msg)
        say(f"   bisect: first {mid} sublayer(s): {st}")
        if st == "ok":
            lo = mid
        elif st == "fail":
            hi = mid
        else:
            return f"bisect stopped at {mid} sublayers: {st}: {msg[:300]}"
    if hi == 1 and 1 not in seen:
        st, msg = _prefix_fails(m, 1, xfc, w, wpath, workdir, tol, tie_tol, wf)
        seen[1] = (st, msg)
        if st == "ok":
            return "bisect: the first sublayer alone agrees, yet the full model does not (non-monotone?)"
    b, s, ins, sub = subs[hi - 1]
    where = f"block instance {b} ({ins.block_name or 'inline'}{', mod-routed' if ins.mod else ''}) sublayer {s}"
    detail = seen.get(hi, ("", ""))[1]
    return (f"first disagreement appears when the model is cut after {hi} sublayer(s): {where}: "
            f"{xfref.sub_text(sub, m)}" + (f"\n      ({detail})" if detail else ""))


def print_result(res):
    st = {EXIT_PASS: "PASS", EXIT_FAIL: "FAIL", EXIT_INCONCLUSIVE: "INCONCLUSIVE"}[res.status]
    for n in res.notes:
        print(f"   note: {n}")
    for f in res.failures:
        print(f"   FAILURE: {f}")
    for f in res.inconclusive:
        print(f"   INCONCLUSIVE: {f}")
    print(f"== {res.name}: {st}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--xfc", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seed-tries", type=int, default=6)
    ap.add_argument("--threads", default="1,2,3")
    ap.add_argument("--cc", default="clang,clang-noomp",
                    help=f"build variants, from {', '.join(CC_VARIANTS)}")
    ap.add_argument("--sanitize", action="store_true", help="also build and run under ASan+UBSan")
    ap.add_argument("--sanitize-only", action="store_true", help="only the ASan+UBSan build")
    ap.add_argument("--workdir")
    ap.add_argument("--weights")
    ap.add_argument("--py-weights", action="store_true")
    ap.add_argument("--misalign", action="store_true", help="with --py-weights: tensor data not 4-byte aligned")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--tie-tol", type=float, default=1e-5)
    ap.add_argument("--no-bad-inputs", action="store_true")
    ap.add_argument("--quick", action="store_true", help="fewer decode steps")
    ap.add_argument("--weight-format", choices=xfref.WEIGHT_FORMATS, default="f32",
                    help="xfc --weights; the reference computes with each matrix's w'")
    ap.add_argument("--file-dtype", choices=("F32", "BF16", "F16"), default="F32",
                    help="dtype of the weights file (xfc --init-dtype)")
    ap.add_argument("--no-bisect", action="store_true",
                    help="on a mismatch, do not search for the first sublayer that disagrees")
    a = ap.parse_args(argv)
    ccs = [] if a.sanitize_only else [c for c in a.cc.split(",") if c]
    for c in ccs:
        if c not in CC_VARIANTS:
            ap.error(f"unknown --cc variant {c}")
    res = run_model(a.model, os.path.abspath(a.xfc), seed=a.seed, threads=[int(t) for t in a.threads.split(",")],
                    ccs=ccs, workdir=a.workdir, weights=a.weights, py_weights=a.py_weights,
                    sanitize=a.sanitize or a.sanitize_only, seed_tries=a.seed_tries, tol=a.tol,
                    tie_tol=a.tie_tol, bad_inputs=not a.no_bad_inputs, quick=a.quick, misalign=a.misalign,
                    bisect=not a.no_bisect, weight_format=a.weight_format, file_dtype=a.file_dtype)
    print_result(res)
    return res.status


if __name__ == "__main__":
    sys.exit(main())
