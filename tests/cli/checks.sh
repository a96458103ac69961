# Sourced by the tests/cli scripts: a scratch folder removed at exit, and
# check/out/rc/has, which count passes and failures; `finish LABEL` prints
# "LABEL: N passed, N failed" and exits non-zero on any failure.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0; passes=0
check() {   # check NAME CONDITION...
    local name=$1; shift
    if "$@"; then passes=$((passes + 1)); else echo "FAIL: $name"; fails=$((fails + 1)); fi
}
out() { "$xfc" "$@" > "$tmp/stdout" 2> "$tmp/stderr"; echo $? > "$tmp/rc"; }   # run xfc
rc() { [ "$(cat "$tmp/rc")" = "$1" ]; }
has() { grep -q -- "$1" "$tmp/$2"; }   # has TEXT stdout|stderr
finish() {
    echo "$1: $passes passed, $fails failed"
    [ "$fails" = 0 ]
}
