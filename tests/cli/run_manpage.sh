#!/usr/bin/env bash
# The flags agree everywhere: every option main.c's parser accepts is in
# `xfc --help`, and the man page documents exactly the flags --help lists
# (one .TP entry each).  Also: both document the exit status, --version
# prints the version and the source revision, and the man page is for that version.
#   run_manpage.sh XFC MAN_PAGE MAIN_C
set -uo pipefail
xfc=$1; man=$2; main_c=$3
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
flags() { grep -oE '(^|[ ,[])--?[a-z][a-z0-9-]*' | sed 's/^[ ,[]//' | sort -u; }

help=$("$xfc" --help) || fail "--help exits non-zero"
# option lines of --help: two spaces then a dash (continuation lines are indented further)
help_flags=$(printf '%s\n' "$help" | grep -E '^  -' | flags)
# man page: the tag line after each .TP under OPTIONS, with roff's \- as -
man_flags=$(awk '/^\.SH /{in_opt = ($2 == "OPTIONS")} in_opt && prev == ".TP" {print} {prev = $0}' "$man" |
            sed 's/\\-/-/g; s/\\f[BIRP]//g; s/"//g' | sed 's/^\.[A-Z]* *//' | flags)
# parser: every string literal starting with a dash compared against an argument
parse_flags=$(grep -oE 'str(n)?cmp\(a, "--?[a-z][a-z0-9-]*' "$main_c" | sed 's/.*"//' | sort -u)

[ -n "$help_flags" ] || fail "no flags found in --help"
[ -n "$man_flags" ] || fail "no flags found in the man page"
[ -n "$parse_flags" ] || fail "no flags found in $main_c"
d=$(comm -3 <(echo "$help_flags") <(echo "$man_flags"))
[ -z "$d" ] || fail "--help and the man page differ (left: --help only, right: man only):"$'\n'"$d"
d=$(comm -23 <(echo "$parse_flags") <(echo "$help_flags"))
[ -z "$d" ] || fail "accepted by main.c but missing from --help: $d"
echo "flags: $(echo $help_flags)"

printf '%s\n' "$help" | grep -qi '^exit status' || fail "--help does not document the exit status"
grep -q '^\.SH EXIT STATUS' "$man" || fail "the man page has no EXIT STATUS section"
if command -v groff > /dev/null; then
    w=$(groff -man -Tutf8 -ww -z "$man" 2>&1)
    [ -z "$w" ] || fail "groff warns about the man page: $w"
fi

v=$("$xfc" --version) || fail "--version exits non-zero"
[[ "$v" =~ ^xfc\ [0-9]+\.[0-9]+\.[0-9]+\ \(revision\ [^\ ]+\)$ ]] || fail "--version prints '$v'"
echo "version: $v"
th_version=$(sed -n 's/^\.TH .*"xfc \([0-9.]*\)".*/\1/p' "$man")
[ "xfc $th_version" = "$(echo "$v" | cut -d' ' -f1-2)" ] ||
    fail "the man page is for xfc '$th_version', the binary is '$v' (update .TH in $man)"
echo "manpage: $fails failed"
[ "$fails" = 0 ]
