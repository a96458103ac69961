#!/usr/bin/env bash
# run_diag.sh XFC NAME - one diagnostic test: tests/diag/NAME.xf is a bad
# program and NAME.err the exact stderr xfc must print for it.
#
# Runs `XFC NAME.xf -o TMP/out/out.c` from inside tests/diag (so messages
# name plain `NAME.xf`) and checks that xfc exits with status 1, prints
# nothing on stdout, prints exactly NAME.err on stderr, and writes nothing
# (no out.c, no out.h, no temporary) into the output folder.
#
# To refresh the expected messages after a deliberate change, run
#     XFC_UPDATE_GOLDEN=1 ctest --test-dir BUILD -L diag
# which rewrites every NAME.err that differs (the other checks still apply),
# then review `git diff tests/diag` and say why in the commit.
set -u
if [ $# -ne 2 ]; then
    echo "usage: run_diag.sh XFC NAME" >&2
    exit 2
fi
xfc=$1
name=$2
cd "$(dirname "$0")" || exit 2

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/out"

"$xfc" "$name.xf" -o "$tmp/out/out.c" >"$tmp/stdout" 2>"$tmp/stderr"
status=$?

fail=0
if [ "$status" -ne 1 ]; then
    echo "FAIL: xfc exited with status $status, want 1"
    fail=1
fi
if [ -s "$tmp/stdout" ]; then
    echo "FAIL: xfc printed on stdout:"
    cat "$tmp/stdout"
    fail=1
fi
left=$(ls -A "$tmp/out")
if [ -n "$left" ]; then
    echo "FAIL: xfc wrote files although it failed: $left"
    fail=1
fi

if [ "${XFC_UPDATE_GOLDEN:-0}" = 1 ]; then
    if ! cmp -s "$tmp/stderr" "$name.err"; then
        cp "$tmp/stderr" "$name.err"
        echo "updated tests/diag/$name.err"
    fi
elif ! diff -u "$name.err" "$tmp/stderr"; then
    echo "FAIL: stderr differs from tests/diag/$name.err (- expected, + actual)"
    fail=1
fi
exit $fail
