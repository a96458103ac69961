#!/usr/bin/python3
"""Work is really skipped: instruction counts of the generated forward.

For each pair (a routed model, the same model without routing) this test
  1. asks `xfc --stats` for the predicted FLOPs/token of both,
  2. compiles both generated models (-O2, no OpenMP) with a driver that runs
     one full-context forward,
  3. counts the instructions executed inside NAME_forward with
     `valgrind --tool=callgrind --toggle-collect=NAME_forward`,
and checks that the realized ratio (routed / unrouted instructions) is at
most 15% above the predicted FLOP ratio (the saving is really made) and not
below half of it.  Below is looser than above because kernels differ in
instructions per FLOP: the packed GEMM and the attention kernel do more
FLOPs per instruction than the sparse FFN's unit kernel, so a routed model,
whose remaining work is mostly in those, runs fewer instructions than its
FLOP share (sparse FFN: 0.23 realized against 0.31 predicted; callgrind puts
the FFN part alone at 0.045 of the unrouted one's, for 1/32 of its units).
Callgrind counts instructions, not time, so the result does not depend on
machine load.

Pairs: MoD at capacity 0.125 on every other block vs no MoD; MoE top-2 of 8
vs top-8 of 8 (every expert on every token); sparse FFN with 32-unit blocks
vs 1-unit blocks (every unit).

  /usr/bin/python3 tests/work/run_skip_work.py --xfc build/xfc [--keep DIR]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

TOLERANCE = 0.15       # realized at most this far above the predicted ratio
FLOOR = 0.5            # and at least this fraction of it

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "MODEL.h"
int main(int argc, char **argv) {
    char err[512];
    MODEL *m = MODEL_open(argv[1], err, sizeof err);
    if (!m) { fprintf(stderr, "%s\n", err); return 1; }
    static int32_t tok[MODEL_CONTEXT];
    static float logits[(size_t)MODEL_CONTEXT * MODEL_VOCAB];
    for (int i = 0; i < MODEL_CONTEXT; i++) tok[i] = (int32_t)((i * 7 + 3) % MODEL_VOCAB);
    int rc = MODEL_forward(m, tok, MODEL_CONTEXT, logits);
    printf("rc=%d logit0=%g\n", rc, (double)logits[0]);
    MODEL_close(m);
    return rc != 0;
}
"""

BASE = """model {name} {{
  vocab = 64
  dim = 128
  context = 128
{body}
}}
"""

DENSE = """  block dense {
    attention(heads = 4)
    ffn(hidden = 512, act = relu)
  }
"""
EXPERTS = """  block experts {
    attention(heads = 4)
    moe(experts = 8, top_k = %d, hidden = 256, act = relu)
  }
  layers { experts * 2 }
"""
SPARSE = """  block sparse {
    attention(heads = 4)
    sparse_ffn(hidden = 1024, block = %d, lowrank = 16)
  }
  layers { sparse * 2 }
"""

PAIRS = [
    ("mod", "MoD capacity 0.125 on every other block",
     DENSE + "  layers {\n    repeat 2 {\n      dense\n      mod(capacity = 0.125) dense\n    }\n  }",
     DENSE + "  layers {\n    repeat 2 {\n      dense\n      dense\n    }\n  }"),
    ("moe", "MoE top-2 of 8 vs every expert", EXPERTS % 2, EXPERTS % 8),
    ("sffn", "sparse FFN, one unit of 32 vs every unit", SPARSE % 32, SPARSE % 1),
]


def total_flops(xfc, xf):
    out = subprocess.run([xfc, xf, "--stats"], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("total"):
            f = line.split()
            return float(f[3]), float(f[4])
    raise RuntimeError("no total line in --stats:\n" + out)


def instructions(xfc, xf, name, work):
    c = os.path.join(work, name + ".c")
    w = os.path.join(work, name + ".safetensors")
    subprocess.run([xfc, xf, "-o", c], check=True)
    subprocess.run([xfc, xf, "--init-weights", w, "--seed", "5"], check=True)
    drv = os.path.join(work, name + "_main.c")
    with open(drv, "w") as f:
        f.write(DRIVER.replace("MODEL", name))
    exe = os.path.join(work, name)
    subprocess.run(["clang", "-std=c11", "-O2", "-I", work, c, drv, "-lm", "-o", exe], check=True)
    out = os.path.join(work, name + ".callgrind")
    r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                        "--toggle-collect=" + name + "_forward", exe, w],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("run failed:\n" + r.stdout + r.stderr)
    m = re.search(r"Collected\s*:\s*(\d+)", r.stderr)
    if not m:
        raise RuntimeError("no instruction count from callgrind:\n" + r.stderr)
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xfc", required=True)
    ap.add_argument("--keep")
    a = ap.parse_args()
    if not shutil.which("valgrind"):
        print("valgrind not found (apt-get install valgrind)")
        return 1
    work = a.keep or tempfile.mkdtemp(prefix="xf_work_")
    os.makedirs(work, exist_ok=True)
    passed = failed = 0
    try:
        for tag, what, routed, plain in PAIRS:
            names = (tag + "_routed", tag + "_plain")
            files = []
            for name, params in zip(names, (routed, plain)):
                xf = os.path.join(work, name + ".xf")
                with open(xf, "w") as f:
                    f.write(BASE.format(name=name, body=params))
                files.append(xf)
            (fr, fr_dense), (fp, _) = total_flops(a.xfc, files[0]), total_flops(a.xfc, files[1])
            ir = instructions(a.xfc, files[0], names[0], work)
            ip = instructions(a.xfc, files[1], names[1], work)
            predicted, realized = fr / fp, ir / ip
            dev = (realized - predicted) / predicted
            ok = dev <= TOLERANCE and realized >= FLOOR * predicted and realized < 0.9
            print(f"{tag:5s} {what}: predicted FLOP ratio {predicted:.3f} "
                  f"(stats dense column {fr / fr_dense:.3f}), realized instruction ratio "
                  f"{realized:.3f} ({ir} / {ip}), deviation {dev * 100:+.1f}% "
                  f"(limits +{TOLERANCE * 100:.0f}%, -{(1 - FLOOR) * 100:.0f}%): {'ok' if ok else 'FAIL'}")
            passed += ok
            failed += not ok
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"skip-work: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
