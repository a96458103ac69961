#!/usr/bin/env bash
# The main job: build xfc, compile an example model to C, build the app
# example against it, make weights and generate tokens.
#   scripts/demo.sh [examples/MODEL.xf] [generate options...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh --check > /dev/null
model=${1:-examples/llama.xf}
shift || true
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DXF_TESTS=OFF > /dev/null
cmake --build build -j"$jobs" --target xfc
name=$(sed -n 's/^[[:space:]]*model[[:space:]]\+\([A-Za-z_][A-Za-z0-9_]*\).*/\1/p' "$model" | head -n 1)
mkdir -p build/demo
./build/xfc "$model" --stats
./build/xfc "$model" -o "build/demo/$name.c"
./build/xfc "$model" --init-weights "build/demo/$name.safetensors" --seed 7
clang -std=c11 -O3 -march=native -fopenmp -DXF_MODEL="$name" -Ibuild/demo \
    "build/demo/$name.c" examples/generate.c -lm -o "build/demo/generate_$name"
"./build/demo/generate_$name" "build/demo/$name.safetensors" --prompt 1,2,3,4,5 --steps 24 \
    --temp 0.8 --top-p 0.9 --seed 42 "$@"
