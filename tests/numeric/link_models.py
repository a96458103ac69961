#!/usr/bin/python3
"""Links several generated models into one program (SPEC §5: every symbol but
the API is static, so models link together) and checks each still gives the
logits the reference gives.

  /usr/bin/python3 tests/numeric/link_models.py --xfc build/xfc examples/a.xf examples/b.xf ... [--workdir DIR]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import run_numeric  # noqa: E402
import st_io  # noqa: E402
import xfref  # noqa: E402

MAIN_HEAD = """#include <stdio.h>
#include <stdlib.h>
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--xfc", required=True)
    ap.add_argument("--workdir")
    a = ap.parse_args(argv)
    xfc = os.path.abspath(a.xfc)
    work = a.workdir or tempfile.mkdtemp(prefix="xfnum_link_")
    os.makedirs(work, exist_ok=True)
    models, seen = [], set()
    for xf in a.models:
        m = xfref.parse_file(xf)
        if m.name in seen:          # two files may name the same model; keep the first
            continue
        seen.add(m.name)
        models.append((xf, m))
    if len(models) < 2:
        print("link_models: fewer than two distinct models; nothing to check")
        return 0

    objs, calls = [], []
    failures = []
    src = [MAIN_HEAD]
    for i, (xf, m) in enumerate(models):
        d = os.path.join(work, m.name)
        cpath, err = run_numeric.xfc_generate(xfc, xf, d, m.name)
        if err:
            failures.append(err)
            continue
        w = os.path.join(d, "weights.safetensors")
        p = subprocess.run([xfc, xf, "--init-weights", w, "--seed", "3"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if p.returncode != 0:
            failures.append(f"{xf}: xfc --init-weights failed: {p.stdout.decode()[:500]}")
            continue
        obj = os.path.join(d, m.name + ".o")
        p = subprocess.run(["clang", "-std=c11", "-O2", "-fopenmp", "-c", cpath, "-o", obj],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            failures.append(f"{xf}: compile failed: {p.stdout.decode()[-2000:]}")
            continue
        objs.append(obj)
        toks = [(7 * j + i) % m.vocab for j in range(min(5, m.context))]
        ref = xfref.Reference(m, st_io.read(w)).forward(toks)
        np.asarray(ref, dtype="<f4").tofile(os.path.join(d, "ref.bin"))
        src.append(f'#include "{os.path.join(d, m.name + ".h")}"')
        n = m.name
        calls.append(f"""    {{
        char err[256] = "";
        {n} *m = {n}_open("{w}", err, sizeof err);
        if (!m) {{ printf("FAIL {n}: open: %s\\n", err); bad++; }}
        else {{
            static const int32_t toks[] = {{{", ".join(map(str, toks))}}};
            static float out[{len(toks)}][{n}_OUT];
            if ({n}_forward(m, toks, {len(toks)}, &out[0][0]) != 0) {{ printf("FAIL {n}: forward\\n"); bad++; }}
            FILE *f = fopen("{os.path.join(d, 'c.bin')}", "wb");
            fwrite(out, sizeof out, 1, f);
            fclose(f);
            {n}_close(m);
        }}
    }}""")
    src.append("int main(void)\n{\n    int bad = 0;")
    src += calls
    src.append("    return bad != 0;\n}\n")
    main_c = os.path.join(work, "main.c")
    with open(main_c, "w") as f:
        f.write("\n".join(src))
    exe = os.path.join(work, "linked")
    if not failures:
        p = subprocess.run(["clang", "-std=c11", "-O2", "-fopenmp", main_c, *objs, "-o", exe, "-lm"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            failures.append("linking the models together failed:\n" + p.stdout.decode()[-3000:])
        else:
            p = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if p.returncode != 0:
                failures.append("linked program failed:\n" + p.stdout.decode()[-3000:])
            for xf, m in models:
                d = os.path.join(work, m.name)
                r = np.fromfile(os.path.join(d, "ref.bin"), dtype="<f4")
                c = np.fromfile(os.path.join(d, "c.bin"), dtype="<f4") if os.path.exists(
                    os.path.join(d, "c.bin")) else np.zeros(0, np.float32)
                ok, err, lim, idx, cv, rv = run_numeric.compare(c, r, 1e-4)
                print(f"   {m.name}: max err {err:.3g} (limit {lim:.3g}) {'ok' if ok else 'MISMATCH'}")
                if not ok:
                    failures.append(f"{m.name} linked with the others: logits differ (element {idx}: {cv} vs {rv})")
    for f in failures:
        print("   FAILURE:", f)
    print(f"link_models: {len(models)} models in one program: {'FAIL' if failures else 'PASS'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
