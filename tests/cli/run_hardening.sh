#!/usr/bin/env bash
# Hostile but valid inputs: compile time that must not grow with context,
# outputs that a failed compile must leave alone, odd input paths.
#   run_hardening.sh XFC
set -uo pipefail
xfc=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0; passes=0
check() {   # check NAME CONDITION...
    local name=$1; shift
    if "$@"; then passes=$((passes + 1)); else echo "FAIL: $name"; fails=$((fails + 1)); fi
}
out() { "$xfc" "$@" > "$tmp/stdout" 2> "$tmp/stderr"; echo $? > "$tmp/rc"; }
rc() { [ "$(cat "$tmp/rc")" = "$1" ]; }
has() { grep -q -- "$1" "$tmp/$2"; }

# ---- compile time does not depend on context (stats use closed forms) ------
# 8 attention layers over a billion positions: a loop over positions takes
# minutes; the timeout fails the test long before that.
cat > "$tmp/ctx.xf" <<'XF'
model bigctx {
  vocab = 64
  dim = 64
  context = 1000000000
  block b { attention(heads = 2, window = 1000) ffn(hidden = 64) }
  block c { attention(heads = 2) ffn(hidden = 64) }
  block d { attention(heads = 2, bidirectional = true, window = 7) }
  layers { b * 3 c * 3 d * 2 }
}
XF
timeout 10 "$xfc" "$tmp/ctx.xf" --stats > "$tmp/stdout" 2> "$tmp/stderr"; echo $? > "$tmp/rc"
check "context 1e9: --stats within 10 s" rc 0
check "context 1e9: stats printed" has "^total" stdout

# ---- float settings at the edges of fp32 give C that builds -----------------
cat > "$tmp/edge.xf" <<'XF'
model edge {
  vocab = 64
  dim = 64
  context = 16
  norm = rmsnorm(eps = 1.18e-38)
  block b { attention(heads = 4, rope = 3.4e38) ffn(hidden = 64, norm = layernorm(eps = 3.4e38)) }
  layers { b mod(capacity = 0.5, decode_threshold = -3.4e38) b mod(capacity = 0.5, decode_threshold = 0) b }
}
XF
out "$tmp/edge.xf" -o "$tmp/edge.c"; check "fp32 edge values accepted" rc 0
for cc in clang gcc; do
    check "fp32 edge values: $cc builds" $cc -std=c11 -Wall -Wextra -pedantic -Werror -fsyntax-only "$tmp/edge.c"
done

echo "hardening: $passes passed, $fails failed"
[ "$fails" = 0 ]
