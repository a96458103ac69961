#!/bin/bash
# run.sh - the whole benchmark in one command: builds the peers once
# (bench/setup.sh, cached under build/bench-peers), then runs bench/run_bench.py
# in that venv with every peer; arguments go to run_bench.py.
#
#   bash bench/run.sh --json results.json
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
[ -x "$ROOT/build/xfc" ] || { echo "run.sh: build xfc first (cmake --build build --target xfc)" >&2; exit 1; }
DIR=$(bash "$HERE/setup.sh" | tail -1)
exec "$DIR/venv/bin/python" "$HERE/run_bench.py" --peers-dir "$DIR" "$@"
