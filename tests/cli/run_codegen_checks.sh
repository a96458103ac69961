#!/usr/bin/env bash
# Generated code checks for one model:
#  - warning-free with clang and gcc: -std=c11 -Wall -Wextra -pedantic -Werror,
#    with and without -fopenmp
#  - cross-compiles for aarch64 (compile only)
#  - byte-for-byte deterministic output
#  - two generated models link into one program (every non-API symbol static)
#  - a failing compile leaves no output file behind
#   run_codegen_checks.sh XFC MODEL_A.xf MODEL_B.xf
set -euo pipefail
xfc=$1; a=$2; b=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
name_of() { sed -n 's/^[[:space:]]*model[[:space:]]\+\([A-Za-z_][A-Za-z0-9_]*\).*/\1/p' "$1" | head -n 1; }
na=$(name_of "$a"); nb=$(name_of "$b")
mkdir -p "$tmp/o1" "$tmp/o2"
"$xfc" "$a" -o "$tmp/o1/$na.c"
"$xfc" "$a" -o "$tmp/o2/$na.c"
sed -i '2d' "$tmp/o1/$na.c" "$tmp/o2/$na.c"   # line 2 records the command line (paths differ)
cmp "$tmp/o1/$na.c" "$tmp/o2/$na.c" || { echo "FAIL: output not deterministic"; exit 1; }
"$xfc" "$a" -o "$tmp/$na.c"
"$xfc" "$b" -o "$tmp/$nb.c"
flags="-std=c11 -Wall -Wextra -pedantic -Werror -O2"
# the header is named after the output file, whatever the model is called
mkdir -p "$tmp/renamed"
"$xfc" "$a" -o "$tmp/renamed/other_name.c"
test -f "$tmp/renamed/other_name.h" || { echo "FAIL: -o other_name.c did not write other_name.h"; exit 1; }
clang $flags -c "$tmp/renamed/other_name.c" -o "$tmp/renamed/o.o"
# --line-directives: #line points at the .xf, and back at the .c by its own name
"$xfc" "$a" --line-directives -o "$tmp/renamed/lines.c"
grep -q "^ *#line [0-9]* \".*\.xf\"" "$tmp/renamed/lines.c" || { echo "FAIL: no #line to the .xf"; exit 1; }
grep -q "^ *#line [0-9]* \"lines.c\"" "$tmp/renamed/lines.c" || { echo "FAIL: no #line back to lines.c"; exit 1; }
clang $flags -c "$tmp/renamed/lines.c" -o "$tmp/renamed/l.o"
for cc in clang gcc; do
    for omp in -fopenmp ""; do
        echo "$cc $flags $omp"
        $cc $flags $omp -march=native -c "$tmp/$na.c" -o "$tmp/a.o"
    done
done
echo "cross: clang --target=aarch64-linux-gnu"
# clang finds the cross headers through an aarch64 gcc installation; with only
# libc6-dev-arm64-cross (scripts/setup-debian.sh) there is none, so name them
cross_inc=""
if [ ! -d /usr/lib/gcc-cross/aarch64-linux-gnu ] && [ -d /usr/aarch64-linux-gnu/include ]; then
    cross_inc="-isystem /usr/aarch64-linux-gnu/include"
fi
clang $flags --target=aarch64-linux-gnu $cross_inc -fopenmp -c "$tmp/$na.c" -o "$tmp/a-arm.o"
file_type=$(od -An -tx1 -j18 -N2 "$tmp/a-arm.o" | tr -d ' ')
[ "$file_type" = "b700" ] || { echo "FAIL: not an aarch64 object (e_machine $file_type)"; exit 1; }
cat > "$tmp/two.c" <<C
#include "$na.h"
#include "$nb.h"
#include <stdio.h>
int main(void) {
    char err[256];
    ${na} *x = ${na}_open("/nonexistent.safetensors", err, sizeof err);
    ${nb} *y = ${nb}_open("/nonexistent.safetensors", err, sizeof err);
    printf("%d %d\n", x == NULL, y == NULL);
    return !(x == NULL && y == NULL);
}
C
clang -std=c11 -O1 -fopenmp -I"$tmp" "$tmp/$na.c" "$tmp/$nb.c" "$tmp/two.c" -lm -o "$tmp/two"
"$tmp/two"
# exported symbols: only the five API functions of each model
syms=$(nm -g --defined-only "$tmp/a.o" | awk '{print $3}' | sort | tr '\n' ' ')
want=$(printf '%s\n' "${na}_close" "${na}_decode" "${na}_forward" "${na}_open" "${na}_reset" | sort | tr '\n' ' ')
[ "$syms" = "$want" ] || { echo "FAIL: exported symbols: $syms (want $want)"; exit 1; }
echo "codegen checks passed for $na and $nb"
