#!/usr/bin/env bash
# Mutation check of the weight-format tests: each mutation below breaks one
# rule of docs/semantics.md "Weight formats" in a copy of the source tree;
# the copy's xfc is built and the numeric tests named beside the mutation are
# run.  A mutation that no test catches is a hole in the tests: the script
# then exits 1.  Not part of CTest (it builds xfc once per mutation, several
# minutes in all); run it by hand after changing the formats or their tests:
#
#   bash tests/numeric/mutations.sh [WORKDIR] [NAME...]
#
# Needs /usr/bin/python3 with torch, clang and gcc, like the numeric tests.
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$(mktemp -d /tmp/xf_mutations.XXXXXX)}
shift || true
mkdir -p "$work"
py=/usr/bin/python3
num=tests/numeric

# name | file | sed expression | tests (";"-separated commands, run from the copy)
mutations=(
"bf16-truncate|runtime/xfrt_wfmt.h|s/u += 0x7fffu + ((u >> 16) \& 1u);/(void)0;/|$num/run_numeric.py examples/gpt2.xf --weight-format bf16 --cc clang --threads 1 --no-bisect --no-bad-inputs;$num/crafted.py --only wfmt_ties --weight-format bf16 --cc clang"
"bf16-half-away|runtime/xfrt_wfmt.h|s/u += 0x7fffu + ((u >> 16) \& 1u);/u += 0x8000u;/|$num/crafted.py --only wfmt_ties --weight-format bf16 --cc clang"
"q8-block-across-rows|runtime/kernels_gemm.c|0,/int len = cols - k < XFRT_Q8_BLOCK ? cols - k : XFRT_Q8_BLOCK;/s//int len = XFRT_Q8_BLOCK;/|$num/crafted.py --only wfmt_ties --weight-format q8 --cc clang;$num/random_configs.py --weight-format q8 --only 4"
"q8-scale-max-128|runtime/xfrt_wfmt.h|s/float s = amax \/ 127.0f;/float s = amax \/ 128.0f;/|$num/run_numeric.py examples/gpt2.xf --weight-format q8 --cc clang --threads 1 --no-bisect --no-bad-inputs"
"q8-round-half-even|runtime/xfrt_wfmt.h|s/roundf(w\[i\] \/ s)/nearbyintf(w[i] \/ s)/|$num/crafted.py --only wfmt_ties --weight-format q8 --cc clang"
"quantized-router|ir/weights.c|s/\".moe.w2\",  \".moe.w3\",/\".moe.w2\",  \".moe.w3\", \".moe.router\", \".mod.router\",/|$num/run_numeric.py examples/switch_moe.xf --weight-format q8 --cc clang --threads 1 --no-bisect --no-bad-inputs;$num/run_numeric.py examples/mod.xf --weight-format bf16 --cc clang --threads 1 --no-bisect --no-bad-inputs;$num/crafted.py --only wfmt_ties --weight-format bf16 --cc clang;$num/crafted.py --only wfmt_ties --weight-format q8 --cc clang"
)

holes=0
for m in "${mutations[@]}"; do
    IFS='|' read -r name file expr tests <<< "$m"
    tests=${tests#;}
    if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then
        continue
    fi
    d="$work/$name"
    rm -rf "$d"; mkdir -p "$d"
    (cd "$src" && git ls-files -co --exclude-standard -z | xargs -0 tar -cf - 2>/dev/null) | tar -xf - -C "$d"
    cp "$d/$file" "$d/$file.orig"
    sed -i "$expr" "$d/$file"
    if cmp -s "$d/$file" "$d/$file.orig"; then
        echo "MUTATION $name: the expression matched nothing in $file (update this script)"
        holes=$((holes + 1)); continue
    fi
    echo "== mutation $name: $(diff "$d/$file.orig" "$d/$file" | grep '^>' | head -2 | tr -s ' ')"
    if ! (cmake -S "$d" -B "$d/build" -DCMAKE_BUILD_TYPE=Release > "$d/cmake.log" 2>&1 &&
          cmake --build "$d/build" -j2 --target xfc > "$d/build.log" 2>&1); then
        echo "   build failed: see $d/build.log"; holes=$((holes + 1)); continue
    fi
    caught=0
    IFS=';' read -ra cmds <<< "$tests"
    for c in "${cmds[@]}"; do
        # shellcheck disable=SC2086
        (cd "$d" && $py $c --xfc "$d/build/xfc" > "$d/test.log" 2>&1); rc=$?
        summary=$(grep -m1 -E 'MISMATCH|FAILURE' "$d/test.log" | cut -c1-200)
        echo "   $c: exit $rc${summary:+ ($summary)}"
        [ $rc = 1 ] && caught=1
    done
    if [ $caught = 1 ]; then
        echo "   caught"
    else
        echo "   NOT CAUGHT"; holes=$((holes + 1))
    fi
done
echo "mutations: $holes not caught; files in $work"
[ $holes = 0 ]
