#!/usr/bin/env bash
# Golden IR dumps: for each example, `xfc MODEL.xf --dump-ir` (the final IR,
# with the memory plan), `--dump-ir=topk-plan`, `--dump-ir=fuse` (the fused
# groups) and `--no-fuse --dump-ir` (the final IR without fusion), compared
# byte for byte with tests/golden/NAME.ir, NAME.after-topk-plan.ir,
# NAME.after-fuse.ir and NAME.no-fuse.ir.
#   run_golden.sh XFC MODEL.xf
# Refresh after an intended change with
#   XFC_UPDATE_GOLDEN=1 ctest --test-dir build -L golden
# and say in the commit message why the dumps changed.
set -euo pipefail
xfc=$1
model=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
name=$(basename "$model" .xf)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"
rel=examples/$name.xf
"$xfc" "$rel" --dump-ir > "$tmp/$name.ir"
"$xfc" "$rel" --dump-ir=topk-plan > "$tmp/$name.after-topk-plan.ir"
"$xfc" "$rel" --dump-ir=fuse > "$tmp/$name.after-fuse.ir"
"$xfc" "$rel" --no-fuse --dump-ir > "$tmp/$name.no-fuse.ir"
status=0
for f in "$name.ir" "$name.after-topk-plan.ir" "$name.after-fuse.ir" "$name.no-fuse.ir"; do
    if [ "${XFC_UPDATE_GOLDEN:-}" = 1 ]; then
        cp "$tmp/$f" "$here/$f"
        echo "updated tests/golden/$f"
    elif ! diff -u "$here/$f" "$tmp/$f"; then
        echo "golden mismatch: tests/golden/$f (refresh with XFC_UPDATE_GOLDEN=1 if intended)"
        status=1
    fi
done
exit $status
