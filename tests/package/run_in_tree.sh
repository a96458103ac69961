#!/usr/bin/env bash
# Runs the consumer program built inside xfc's own build (xfc_add_model via
# add_subdirectory-style use) on fresh random weights; both models must run.
#   run_in_tree.sh XFC CHAT.xf ROUTER.xf WORKDIR TWO_MODELS
set -euo pipefail
xfc=$1; chat=$2; router=$3; work=$4; prog=$5
mkdir -p "$work"
"$xfc" "$chat" --init-weights "$work/chat.safetensors" --seed 5
"$xfc" "$router" --init-weights "$work/router.safetensors" --seed 5
out=$("$prog" "$work/chat.safetensors" "$work/router.safetensors")
echo "$out"
grep -q "^chat: vocab 64 dim 32 context 16: ok$" <<< "$out"
grep -q "^router: vocab 48 dim 32 context 16: ok$" <<< "$out"
