#!/usr/bin/python3
"""Runs the same xfc-generated C on every target this machine can execute,
against the PyTorch reference (tests/reference/xfref.py), and bitwise across
OpenMP thread counts within each build.

How to run (always /usr/bin/python3: it is the interpreter with torch):

  /usr/bin/python3 tests/targets/run_targets.py --list          # the targets, and which run here
  /usr/bin/python3 tests/targets/run_targets.py --xfc build/xfc --target aarch64 \\
      examples/llama.xf examples/switch_moe.xf
  #   --threads 1,2,3   OMP_NUM_THREADS values that must agree bitwise (OpenMP builds)
  #   --workdir DIR     keep generated files there (default: a temp dir, kept
  #                     only when something fails); each model in DIR/MODEL
  #   --seed N          weights and tokens seed (default 1); on a routing
  #                     near-tie in the reference the next seeds are tried

Targets (TARGETS below): x86-64 (baseline, no AVX), x86-64-v3 (AVX2+FMA),
x86-64-v4 (AVX-512), plain-c (-DXFRT_PLAIN_C on this machine's own ISA),
aarch64 (aarch64-linux-gnu-gcc -fopenmp, run under qemu-aarch64) and
aarch64-clang (clang --target=aarch64-linux-gnu, no OpenMP, under qemu).
An x86 target runs when /proc/cpuinfo lists every flag its -march level needs;
aarch64 runs natively on an aarch64 machine and under qemu-user elsewhere.
Each build must pick the kernels the target calls for (XFRT_ISA_NAME in
runtime/xfrt_isa.h, read from the preprocessed generated C).

Exit status: 0 pass; 1 failure (mismatch, threads not bitwise identical,
build or run error, missing tool); 77 skipped: this machine cannot run the
target (CTest shows it as skipped, with the reason), or the reference saw a
routing near-tie on every seed tried.

Tolerance: run_numeric.py's, per command output (a forward's [n][vocab] or
a decode's [vocab]): max |C - ref| <= 1e-4 * max(1, max |ref|).
"""
import argparse
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "numeric"))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import run_numeric as rn  # noqa: E402
import st_io  # noqa: E402
import xfref  # noqa: E402

SYSROOT = os.environ.get("XF_AARCH64_SYSROOT", "/usr/aarch64-linux-gnu")
EXIT_SKIP = 77

# /proc/cpuinfo flags each x86-64 micro-architecture level needs (the psABI's
# levels; "abm" is how Linux names LZCNT).
X86_V2 = ["cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"]
X86_V3 = X86_V2 + ["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"]
X86_V4 = X86_V3 + ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]

# -DXFRT_PAR_MIN_WORK=0 forces every kernel's parallel loop on, as run_numeric's
# clang and gcc variants do: at these sizes the thread checks would otherwise
# not exercise any parallel path.
OMP = ["-fopenmp", "-DXFRT_PAR_MIN_WORK=0"]
TARGETS = {
    # name: compile command, extra flags, link command (None: the compiler),
    #       kernels expected (XFRT_ISA_NAME), host arch, cpuinfo flags, OpenMP
    "x86-64": dict(cc=["clang"], flags=["-O2", "-march=x86-64"] + OMP, isa="plain C",
                   arch="x86_64", cpu=[], omp=True),
    "x86-64-v3": dict(cc=["clang"], flags=["-O2", "-march=x86-64-v3"] + OMP, isa="AVX2+FMA",
                      arch="x86_64", cpu=X86_V3, omp=True),
    "x86-64-v4": dict(cc=["clang"], flags=["-O2", "-march=x86-64-v4"] + OMP, isa="AVX-512",
                      arch="x86_64", cpu=X86_V4, omp=True),
    "plain-c": dict(cc=["clang"], flags=["-O2", "-march=native", "-DXFRT_PLAIN_C"] + OMP, isa="plain C",
                    arch=None, cpu=[], omp=True),
    # Debian has no arm64 OpenMP runtime for clang (libomp) without a foreign
    # dpkg architecture, and clang's -fopenmp=libgomp ignores the pragmas, so
    # the OpenMP build for aarch64 is GCC's cross compiler with its libgomp.
    "aarch64": dict(cc=["aarch64-linux-gnu-gcc"], flags=["-O2"] + OMP, isa="NEON",
                    arch="aarch64", cpu=[], omp=True),
    # clang compiles against the sysroot as tests/cli/run_codegen_checks.sh
    # does; GCC's cross driver links (it knows its crt files and libgcc).
    "aarch64-clang": dict(cc=["clang", "--target=aarch64-linux-gnu", f"--sysroot={SYSROOT}"],
                          link=["aarch64-linux-gnu-gcc"], flags=["-O2"], isa="NEON",
                          arch="aarch64", cpu=[], omp=False),
}
PACKAGES = {"aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu", "qemu-aarch64": "qemu-user",
            "clang": "clang"}


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def runner(name):
    """(command prefix, None) when this machine can run the target's programs,
    (None, reason) when it cannot: a skip, not a failure."""
    t = TARGETS[name]
    host = platform.machine()
    if t["arch"] is None or t["arch"] == host:
        missing = [f for f in t["cpu"] if f not in cpu_flags()]
        if missing:
            return None, f"this CPU lacks {' '.join(missing)} (/proc/cpuinfo flags)"
        return [], None
    if t["arch"] == "aarch64":
        return ["qemu-aarch64", "-L", SYSROOT], None
    return None, f"{t['arch']} programs cannot run on this {host} machine"


def missing_tools(name, run_prefix):
    t = TARGETS[name]
    need = [t["cc"][0]] + t.get("link", [])[:1] + run_prefix[:1]
    out = [f"{tool} (Debian package {PACKAGES.get(tool, '?')})" for tool in need if not shutil.which(tool)]
    if t["arch"] == "aarch64" and not os.path.isdir(SYSROOT):
        out.append(f"the aarch64 sysroot {SYSROOT} (libc6-dev-arm64-cross; or set XF_AARCH64_SYSROOT)")
    return out


def _sh(cmd, env=None, timeout=600):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def build(name, cpath, model, exe):
    """Compiles the generated file alone, then the harness against its header,
    then links; returns an error string or None."""
    t = TARGETS[name]
    cc = t["cc"] + ["-std=c11"] + t["flags"]
    link = (t.get("link") or t["cc"]) + [f for f in t["flags"] if f == "-fopenmp"]
    hdr = os.path.join(os.path.dirname(cpath), model + ".h")
    steps = [cc + ["-c", cpath, "-o", exe + ".model.o"],
             cc + [f"-DXF_MODEL={model}", "-include", hdr, "-c", rn.HARNESS, "-o", exe + ".harness.o"],
             link + [exe + ".harness.o", exe + ".model.o", "-o", exe, "-lm"]]
    for s in steps:
        rc, out = _sh(s)
        if rc != 0:
            return f"{shlex.join(s)}\nexit {rc}:\n{out[-4000:]}"
    return None


def kernels_picked(name, cpath):
    """XFRT_ISA_NAME as the target's compiler sees it in the generated file."""
    t = TARGETS[name]
    rc, out = _sh(t["cc"] + ["-std=c11"] + t["flags"] + ["-E", "-dM", cpath])
    if rc != 0:
        return None, out[-2000:]
    for line in out.splitlines():
        if line.startswith("#define XFRT_ISA_NAME "):
            return line.split(" ", 2)[2].strip().strip('"'), None
    return None, "the generated C defines no XFRT_ISA_NAME"


def choose_seed(m, xf, xfc, wpath, seed, tries, res, say):
    """Weights from xfc --init-weights and the reference's outputs for
    run_numeric's plan, trying seeds until the reference sees no routing
    near-tie. Returns (groups, refs, near-tie count) or None."""
    best = None
    for s in range(seed, seed + max(1, tries)):
        if not rn.make_weights(m, xfc, xf, wpath, s, False, res):
            return None
        w = st_io.read(wpath)
        xfref.check_weights(m, w)
        groups = rn.make_plan(m, np.random.default_rng(1000 + s), quick=True)
        refs = rn.run_reference(m, w, groups, 1e-5)
        near = sum(1 for (_, ties, _) in refs for t in ties if not t.exact)
        if best is None or near < best[3]:
            best = (s, groups, refs, near, open(wpath, "rb").read())
        if not near:
            break
        say(f"   seed {s}: {near} routing near-tie(s) in the reference; trying the next seed")
    s, groups, refs, near, data = best
    with open(wpath, "wb") as f:
        f.write(data)
    say(f"   seed {s}; {sum(len(c) for _, c in groups)} commands in {len(groups)} cases")
    return groups, refs, near


def locate(groups, V, i):
    """Names the command (and row, vocab entry) float i of the harness output
    belongs to."""
    off = 0
    for label, cmds in groups:
        for c in cmds:
            rows = len(c[1]) if c[0] == "forward" else 1 if c[0] == "decode" else 0
            if i < off + rows * V:
                what = f"forward T={len(c[1])} row {(i - off) // V}" if c[0] == "forward" else f"decode({c[1]})"
                return f"{label}: {what}, vocab {(i - off) % V}"
            off += rows * V
    return "past the end"


def run_target_model(name, xf, xfc, threads, workdir, seed, run_prefix, say):
    res = rn.Result(f"{name} {os.path.basename(xf)}")
    m = xfref.parse_file(xf)
    t = TARGETS[name]
    d = os.path.join(workdir, m.name)
    os.makedirs(d, exist_ok=True)
    cpath, err = rn.xfc_generate(xfc, xf, d, m.name)
    if err:
        res.fail(err)
        return res
    isa, why = kernels_picked(name, cpath)
    if isa != t["isa"]:
        res.fail(f"[{name} {m.name}] the build picks kernels {isa!r}, the target needs {t['isa']!r}"
                 + (f": {why}" if why else " (runtime/xfrt_isa.h)"))
        return res
    exe = os.path.join(d, f"harness_{name}")
    err = build(name, cpath, m.name, exe)
    if err:
        res.fail(f"[{name} {m.name}] build failed: {err}")
        return res
    wpath = os.path.join(d, "weights.safetensors")
    chosen = choose_seed(m, xf, xfc, wpath, seed, 6, res, say)
    if chosen is None:
        return res
    groups, refs, near = chosen
    script = os.path.join(d, "script.txt")
    with open(script, "w") as f:
        f.write(rn.script_text(groups))
    say(f"   [{name} {m.name}] kernels: {isa}; run: {shlex.join(run_prefix + [exe]) if run_prefix else exe}")
    first = None
    for nt in (threads if t["omp"] else [1]):
        tag = f"[{name} {m.name} threads={nt}]"
        outbin = os.path.join(d, f"out_{nt}.bin")
        if os.path.exists(outbin):
            os.remove(outbin)
        env = dict(os.environ, OMP_NUM_THREADS=str(nt))
        rc, out = _sh(run_prefix + [exe, wpath, script, outbin], env=env)
        if rc != 0:
            res.fail(f"{tag} harness exit {rc}:\n      " + "\n      ".join(out.splitlines()[-30:]))
            continue
        data = open(outbin, "rb").read()
        flat = np.frombuffer(data, dtype="<f4")
        outs, used = rn.split_outputs(flat, groups, m.out_dim)
        if used != flat.size:
            res.fail(f"{tag} harness wrote {flat.size} floats, expected {used}")
            continue
        if first is None:
            first = (nt, flat)
            rn._compare_groups(res, tag, groups, outs, refs, 1e-4, say)
        elif data != first[1].tobytes():
            a = first[1]
            diff = np.nonzero(a.view(np.uint32) != flat.view(np.uint32))[0]
            worst = float(np.max(np.abs(a.astype(np.float64) - flat.astype(np.float64))))
            res.fail(f"{tag} logits not bitwise identical to threads={first[0]}: {diff.size} of "
                     f"{flat.size} floats differ, the first in {locate(groups, m.out_dim, int(diff[0]))} "
                     f"({a[diff[0]]!r} vs {flat[diff[0]]!r}); max |difference| {worst:.4g}")
        else:
            say(f"   {tag} bitwise identical to threads={first[0]}")
    if near and res.inconclusive == [] and not res.failures:
        res.notes.append(f"agreed despite {near} routing near-tie(s) in the reference")
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*")
    ap.add_argument("--xfc")
    ap.add_argument("--target", choices=sorted(TARGETS))
    ap.add_argument("--threads", default="1,2,3")
    ap.add_argument("--workdir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--list", action="store_true", help="list the targets and whether each runs here")
    a = ap.parse_args(argv)
    if a.list:
        for n, t in TARGETS.items():
            pre, why = runner(n)
            how = why or ("native" if not pre else shlex.join(pre))
            print(f"{n:14} kernels {t['isa']:9} {shlex.join(t['cc'] + t['flags']):70} {how}")
        return 0
    if not (a.xfc and a.target and a.models):
        ap.error("give --xfc, --target and at least one model (or --list)")
    pre, why = runner(a.target)
    if why:
        print(f"target {a.target}: SKIPPED: {why}")
        return EXIT_SKIP
    miss = missing_tools(a.target, pre)
    if miss:
        print(f"target {a.target}: FAIL: missing {'; '.join(miss)}; bash scripts/setup-debian.sh installs them")
        return 1
    own_tmp = a.workdir is None
    workdir = a.workdir or tempfile.mkdtemp(prefix=f"xftarget_{a.target}_")
    os.makedirs(workdir, exist_ok=True)      # each model's files in workdir/MODEL, rewritten
    threads = [int(x) for x in a.threads.split(",")]
    print(f"== target {a.target}: {shlex.join(TARGETS[a.target]['cc'] + TARGETS[a.target]['flags'])}")
    results = []
    for xf in a.models:
        try:
            r = run_target_model(a.target, xf, os.path.abspath(a.xfc), threads, workdir, a.seed, pre, print)
        except Exception as e:       # a crash in the driver is a failure, with its traceback
            import traceback
            r = rn.Result(f"{a.target} {os.path.basename(xf)}")
            r.fail(f"driver exception: {e}\n{traceback.format_exc()}")
        rn.print_result(r)
        results.append(r)
    status = max(r.status for r in results)
    if status == rn.EXIT_FAIL:
        print(f"target {a.target}: FAIL ({', '.join(r.name for r in results if r.status == rn.EXIT_FAIL)}); "
              f"files kept in {workdir}")
        return 1
    if own_tmp:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"target {a.target}: {'PASS' if status == 0 else 'INCONCLUSIVE'} ({len(results)} models)")
    return EXIT_SKIP if status == rn.EXIT_INCONCLUSIVE else 0


if __name__ == "__main__":
    sys.exit(main())
