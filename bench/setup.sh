#!/bin/bash
# setup.sh - the bench's peers, built once and cached (idempotent).
#
#   bash bench/setup.sh            # prints the cache directory on its last line
#
# Into $XF_PEERS (default: build/bench-peers under the repository root):
#   venv/                 python3 -m venv --system-site-packages from /usr/bin/python3
#                         (Debian's torch and numpy stay visible), with PyPI's
#                         gguf, onnx and onnxruntime;
#   llama.cpp/            the llama.cpp vendored in the source distribution of
#                         llama-cpp-python (PyPI, version $LLAMA_CPP_PYTHON),
#                         built with CMake for this machine's ISA as read from
#                         /proc/cpuinfo (never AMX), shared libraries;
#   xf_llama              bench/xf_llama.c linked to that libllama: the timing
#                         and logits driver the bench runs.
# Each step is skipped when its output is already there and its inputs
# (the pinned version, the flags, the driver source) have not changed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
DIR=${XF_PEERS:-$ROOT/build/bench-peers}
LLAMA_CPP_PYTHON=${LLAMA_CPP_PYTHON:-0.3.36}
JOBS=${JOBS:-2}
PY=/usr/bin/python3
mkdir -p "$DIR"
log() { echo "setup.sh: $*" >&2; }

# ---- the venv ----------------------------------------------------------------
VENV=$DIR/venv
if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    "$PY" -m venv --system-site-packages "$VENV"
fi
# numpy stays Debian's: Debian's torch is built against it (a pip numpy 2 breaks torch)
NPV=$("$PY" -c 'import numpy; print(numpy.__version__)')
echo "numpy==$NPV" >"$DIR/constraints.txt"
if ! "$VENV/bin/python" -c 'import gguf, onnx, onnxruntime' 2>/dev/null; then
    log "pip install gguf onnx onnxruntime (numpy pinned to $NPV)"
    "$VENV/bin/python" -m pip install --quiet -c "$DIR/constraints.txt" gguf onnx onnxruntime
fi
"$VENV/bin/python" -c 'import torch, numpy, gguf, onnx, onnxruntime
torch.from_numpy(numpy.zeros(1, dtype="float32"))' \
    || { log "the venv lacks a working torch/numpy/gguf/onnx/onnxruntime"; exit 1; }

# ---- llama.cpp from the llama-cpp-python sdist -------------------------------
SRC=$DIR/llama_cpp_python-$LLAMA_CPP_PYTHON
if [ ! -f "$SRC/vendor/llama.cpp/CMakeLists.txt" ]; then
    log "unpacking the llama-cpp-python $LLAMA_CPP_PYTHON source distribution"
    mkdir -p "$DIR/sdist"
    # pip builds the sdist's build requirements from source to read its
    # metadata: a few minutes, once
    [ -f "$DIR/sdist/llama_cpp_python-$LLAMA_CPP_PYTHON.tar.gz" ] \
        || "$VENV/bin/python" -m pip download --quiet --no-binary :all: --no-deps \
               -d "$DIR/sdist" "llama-cpp-python==$LLAMA_CPP_PYTHON"
    tar -xzf "$DIR/sdist/llama_cpp_python-$LLAMA_CPP_PYTHON.tar.gz" -C "$DIR"
fi

# The ISA switches from this machine's flags; AMX stays off (it faults in some VMs).
FLAGS=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { [[ "$FLAGS" == *" $1 "* ]] && echo ON || echo OFF; }
ISA=(-DGGML_AVX="$(has avx)" -DGGML_AVX2="$(has avx2)" -DGGML_FMA="$(has fma)"
     -DGGML_F16C="$(has f16c)" -DGGML_BMI2="$(has bmi2)" -DGGML_AVX512="$(has avx512f)"
     -DGGML_AVX512_VBMI="$(has avx512vbmi)" -DGGML_AVX512_VNNI="$(has avx512_vnni)"
     -DGGML_AVX512_BF16="$(has avx512_bf16)" -DGGML_AVX_VNNI="$(has avx_vnni)"
     -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
[ "$(uname -m)" = x86_64 ] || ISA=()
BLD=$DIR/llama.cpp
STAMP="$LLAMA_CPP_PYTHON ${ISA[*]}"
if [ ! -f "$BLD/stamp" ] || [ "$(cat "$BLD/stamp")" != "$STAMP" ]; then
    log "building llama.cpp (a few minutes on 2 cores): ${ISA[*]}"
    rm -rf "$BLD"
    cmake -S "$SRC/vendor/llama.cpp" -B "$BLD" -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF \
        -DGGML_BACKEND_DL=OFF -DGGML_OPENMP=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
        -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_COMMON=OFF "${ISA[@]}" >"$DIR/cmake.log" 2>&1 \
        || { tail -30 "$DIR/cmake.log" >&2; exit 1; }
    cmake --build "$BLD" -j"$JOBS" --target llama >"$DIR/build.log" 2>&1 \
        || { tail -30 "$DIR/build.log" >&2; exit 1; }
    echo "$STAMP" >"$BLD/stamp"
fi

# ---- the driver --------------------------------------------------------------
LIBDIR=$(dirname "$(find "$BLD" -name 'libllama.so' | head -1)")
GGMLDIR=$(dirname "$(find "$BLD" -name 'libggml.so' | head -1)")
if [ ! -x "$DIR/xf_llama" ] || [ "$HERE/xf_llama.c" -nt "$DIR/xf_llama" ] \
        || [ "$BLD/stamp" -nt "$DIR/xf_llama" ]; then
    log "compiling xf_llama"
    cc -O2 -std=c11 -Wall -I"$SRC/vendor/llama.cpp/include" -I"$SRC/vendor/llama.cpp/ggml/include" \
        "$HERE/xf_llama.c" -o "$DIR/xf_llama" -L"$LIBDIR" -L"$GGMLDIR" -lllama -lggml -lggml-base \
        -Wl,-rpath,"$LIBDIR" -Wl,-rpath,"$GGMLDIR" -lm
fi
echo "$DIR"
