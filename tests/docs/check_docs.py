#!/usr/bin/python3
"""The docs are self-contained: every relative link in the repository's
Markdown files resolves to a file inside the repository, and the files a
reader or a user of generated code sees (README.md, docs/, main.c, codegen/,
the embedded runtime, examples/ and the generated .c/.h of every example)
never send the reader to a file outside the repository: no `shared/`, no
`SPEC` (the contract the project was written against lives outside it).

  check_docs.py SOURCE_DIR XFC WORKDIR
"""
import os
import re
import subprocess
import sys

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML = re.compile(r"<(?:img|a|source)\s[^>]*?(?:src|href|srcset)=\"([^\"]+)\"", re.I)
REF = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.M)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE = re.compile(r"`[^`\n]*`")
# a reference to the contract file that is not in the repository
OUTSIDE = [re.compile(r"shared/"), re.compile(r"\bSPEC\b")]
SKIP_DIRS = {".git", "__pycache__"}


def markdown_files(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x not in SKIP_DIRS and not x.startswith("build")
                   and x != "out"]
        for f in sorted(files):
            if f.endswith(".md"):
                yield os.path.join(d, f)


def check_links(root, path, errors):
    text = open(path, encoding="utf-8").read()
    prose = CODE.sub("", FENCE.sub("", text))
    targets = LINK.findall(prose) + REF.findall(prose) + HTML.findall(prose)
    for t in targets:
        if re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I):   # http:, https:, mailto:
            if not t.lower().startswith(("http://", "https://", "mailto:")):
                errors.append("%s: link to %s (only http(s) and repository files)" % (path, t))
            continue
        if t.startswith("#"):
            continue
        f = t.split("#", 1)[0]
        if f.startswith("/"):
            errors.append("%s: absolute link %s (use a path relative to the file)" % (path, t))
            continue
        full = os.path.realpath(os.path.join(os.path.dirname(path), f))
        if os.path.commonpath([full, root]) != root:
            errors.append("%s: link %s leaves the repository" % (path, t))
        elif not os.path.exists(full):
            errors.append("%s: link %s: no such file" % (path, t))
    return len(targets)


def check_words(path, errors, label=None):
    for n, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1):
        for pat in OUTSIDE:
            if pat.search(line):
                errors.append("%s:%d: refers outside the repository (%s): %s"
                              % (label or path, n, pat.pattern, line.strip()))


def check_header_comments(path, errors):
    """The generated header documents its API: a comment right above each of
    the five functions and the model type, and the return codes, ownership
    and threads in its opening comment."""
    lines = open(path, encoding="utf-8").read().split("\n")
    name = os.path.basename(path)
    for fn in ("_open(", "_close(", "_forward(", "_decode(", "_reset("):
        at = [i for i, l in enumerate(lines) if fn in l and not l.lstrip().startswith(("/*", "*"))]
        if len(at) != 1:
            errors.append("generated %s: %d declarations of *%s)" % (name, len(at), fn))
        elif not lines[at[0] - 1].rstrip().endswith("*/"):
            errors.append("generated %s: no comment documents *%s)" % (name, fn))
    head = "\n".join(lines[:30]).lower()
    for word in ("return codes", "thread"):
        if word not in head:
            errors.append("generated %s: the opening comment does not cover %s" % (name, word))


def main():
    root = os.path.realpath(sys.argv[1])
    xfc, work = sys.argv[2], sys.argv[3]
    os.makedirs(work, exist_ok=True)
    errors = []
    n_links = 0
    mds = list(markdown_files(root))
    for md in mds:
        n_links += check_links(root, md, errors)
    seen = [os.path.join(root, "README.md"), os.path.join(root, "main.c")]
    for d in ("docs", "codegen", "runtime", "examples"):
        full = os.path.join(root, d)
        seen += [os.path.join(full, f) for f in sorted(os.listdir(full))
                 if os.path.isfile(os.path.join(full, f))
                 and not f.endswith((".svg", ".png"))]
    for f in seen:
        check_words(f, errors)
    examples = sorted(f for f in os.listdir(os.path.join(root, "examples")) if f.endswith(".xf"))
    for ex in examples:
        out = os.path.join(work, ex[:-3] + ".c")
        r = subprocess.run([xfc, os.path.join(root, "examples", ex), "-o", out],
                           capture_output=True, text=True)
        if r.returncode != 0:
            errors.append("xfc %s failed: %s" % (ex, r.stderr))
            continue
        for g in (out, out[:-2] + ".h"):
            check_words(g, errors, "generated " + os.path.basename(g))
        check_header_comments(out[:-2] + ".h", errors)
    r = subprocess.run([xfc, "--help"], capture_output=True, text=True)
    for pat in OUTSIDE:
        if pat.search(r.stdout):
            errors.append("xfc --help refers outside the repository (%s)" % pat.pattern)
    for e in errors:
        print("FAIL:", e)
    print("docs: %d Markdown files, %d links, %d files and %d generated models scanned, %d problems"
          % (len(mds), n_links, len(seen), len(examples), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
