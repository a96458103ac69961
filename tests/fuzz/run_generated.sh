#!/usr/bin/env bash
# run_generated.sh XFC HARNESS.c DIR... - the generated C of fuzzed models,
# built and run.  For every .xf input in DIR (e.g. a fuzz_frontend corpus)
# that xfc accepts and that is small enough to run (arena, KV caches and
# parameters under the limits below), the model's C is built with clang
# -fsanitize=address,undefined together with tests/numeric/harness.c and run
# on random weights: a forward of a few tokens, a decode when the model has
# one, and the harness's bad-input battery.  Any build failure, sanitizer
# report or failed check is printed with the input's path.
#
# This is not a libFuzzer target: building one model takes about a second,
# a thousand times slower than an in-process run, so it replays a corpus
# that fuzz_frontend grew instead of mutating inputs itself.
set -uo pipefail
xfc=$1; harness=$2; shift 2
limit_bytes=$((256 << 20)); limit_params=$((8 << 20))
max_models=${XF_MAX_MODELS:-1000000}   # stop after this many models were run
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tried=0; ran=0; failed=0
for f in $(find "$@" -type f | sort); do
    [ "$ran" -lt "$max_models" ] || break
    tried=$((tried + 1))
    rm -rf "$tmp/o"; mkdir "$tmp/o"
    timeout 20 "$xfc" "$f" --stats -o "$tmp/o/gen.c" > "$tmp/stats" 2> /dev/null || continue
    h="$tmp/o/gen.h"
    name=$(sed -n 's/^typedef struct \([A-Za-z0-9_]*\) .*/\1/p' "$h")
    val() { sed -n "s/^#define ${name}_$1 *\([0-9-]*\).*/\1/p" "$h"; }
    arena=$(val ARENA_BYTES); kv=$(val KV_BYTES); ctx=$(val CONTEXT); dec=$(val HAS_DECODE)
    logits=$(( ($(val CONTEXT) + 1) * $(val VOCAB) * 4 ))    # the harness's logits buffer
    params=$(awk '$1 == "total" { printf "%.0f", $2 }' "$tmp/stats")
    [ "$arena" -lt "$limit_bytes" ] && [ "$kv" -lt "$limit_bytes" ] && [ "$logits" -lt "$limit_bytes" ] &&
        [ "${params:-0}" -lt "$limit_params" ] || continue
    timeout 60 "$xfc" "$f" --init-weights "$tmp/w.safetensors" 2> /dev/null || continue
    san="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all"
    # the model on its own, as a user compiles it; the harness with its header
    if ! { clang -std=c11 -Wall -Wextra -pedantic -Werror $san -c "$tmp/o/gen.c" -o "$tmp/gen.o" &&
           clang -std=c11 $san -DXF_MODEL="$name" -include "$h" "$harness" "$tmp/gen.o" -lm \
               -o "$tmp/run"; } > "$tmp/cc" 2>&1; then
        echo "FAIL (build): $f"; head -n 5 "$tmp/cc"; failed=$((failed + 1)); continue
    fi
    # the battery's prefix must leave room in the cache: n <= context - 1
    n=$((ctx - 1 < 3 ? ctx - 1 : 3)); [ "$n" -ge 1 ] || n=1
    toks=$(seq -s, 0 $((n - 1)) | sed 's/[0-9]*/0/g')
    {
        echo "forward $toks"
        if [ "$ctx" -gt "$n" ]; then
            if [ "$dec" = 1 ]; then echo "decode 0"; echo "check_bad $toks 0"
            else echo "check_bad $toks -1"; fi
        fi
    } > "$tmp/script"
    ran=$((ran + 1))
    if ! timeout 60 "$tmp/run" "$tmp/w.safetensors" "$tmp/script" "$tmp/out.bin" > "$tmp/log" 2>&1; then
        echo "FAIL (run): $f"; grep -m 5 -E "FAIL|ERROR|runtime error" "$tmp/log"; failed=$((failed + 1))
    fi
done
echo "generated C: $tried inputs, $ran models built and run, $failed failed"
[ "$failed" = 0 ]
