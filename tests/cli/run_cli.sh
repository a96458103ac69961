#!/usr/bin/env bash
# The command line: help, version, pass list, dumps, stats, weights, and that
# errors exit 1 with a message and leave no output file.
#   run_cli.sh XFC EXAMPLE.xf
set -uo pipefail
xfc=$1; model=$2
. "$(dirname "$0")/checks.sh"

out --help;                 check "--help exits 0" rc 0; check "--help lists -o" has "-o OUT.c" stdout
check "--help lists --dump-ir=PASS" has "dump-ir=PASS" stdout
out --version;              check "--version" has "xfc " stdout
out --list-passes;          check "--list-passes" has "topk-plan" stdout; check "memplan listed" has memplan stdout
out "$model" --dump-ir;     check "--dump-ir exits 0" rc 0; check "dump has nodes" has "= attention(" stdout
check "dump shows fused groups" has "= fused\[" stdout; check "dump names members" has "^#        of " stdout
check "dump has the memory plan" has "# memory plan" stdout
out "$model" --no-fuse --dump-ir; check "--no-fuse exits 0" rc 0; check "--no-fuse: unfused linears" has "= linear(" stdout
check "--no-fuse: no groups" bash -c "! grep -q 'fused\[' '$tmp/stdout'"
out "$model" --dump-ir=fuse; check "--dump-ir=fuse" has "after pass fuse" stdout
out --list-passes;          check "fuse listed" has "^fuse " stdout
out "$model" --dump-ir=dce,memplan; check "dump after two passes" has "after pass dce" stdout
check "second dump" has "after pass memplan" stdout
out "$model" --dump-ir=nosuch; check "unknown pass exits 1" rc 1; check "unknown pass named" has "nosuch" stderr
out "$model" --stats;       check "--stats" has "FLOPs/token" stdout; check "stats total" has "^total" stdout
check "stats: work per forward" has "^forward (T=" stdout; check "stats: kernels column" has "kernels" stdout
out "$model" --dump-dot "$tmp/g.dot"; check "--dump-dot writes" test -s "$tmp/g.dot"
check "dot is a digraph" grep -q "^digraph" "$tmp/g.dot"
out "$model" --init-weights "$tmp/w.safetensors" --seed 3; check "--init-weights" test -s "$tmp/w.safetensors"
out "$model" --init-weights "$tmp/w2.safetensors" --seed 3
check "weights deterministic" cmp -s "$tmp/w.safetensors" "$tmp/w2.safetensors"
out "$model" --init-weights "$tmp/w3.safetensors" --seed 4
check "seed changes weights" bash -c "! cmp -s '$tmp/w.safetensors' '$tmp/w3.safetensors'"
out "$model" --seed -3;     check "bad seed exits 1" rc 1
out "$model" --bogus;       check "unknown option exits 1" rc 1; check "unknown option named" has "bogus" stderr
out "$model" -o "$tmp/x.txt"; check "-o needs .c" rc 1
out "$tmp/missing.xf" -o "$tmp/m.c"; check "missing input exits 1" rc 1; check "no output for missing input" test ! -e "$tmp/m.c"
printf 'model broken {\n  vocab = 10\n  dim = 8\n  context = 4\n  layers { nosuch }\n}\n' > "$tmp/bad.xf"
out "$tmp/bad.xf" -o "$tmp/bad.c"; check "bad model exits 1" rc 1
check "bad model: file:line:col" has "bad.xf:5:" stderr
check "bad model: no .c written" test ! -e "$tmp/bad.c"
check "bad model: no .h written" test ! -e "$tmp/bad.h"
out "$model" -o "$tmp/nodir/x.c"; check "unwritable output exits 1" rc 1
check "no temp files left" bash -c "! ls '$tmp' | grep -q tmp"
printf 'model huge {\n  vocab = 3000000000\n  dim = 8\n  context = 4\n  block b { ffn(hidden = 8) }\n  layers { b }\n}\n' > "$tmp/huge.xf"
out "$tmp/huge.xf" -o "$tmp/huge.c"; check "too-large dims exit 1" rc 1; check "too-large dims named" has "3000000000" stderr
check "too-large dims: no .c" test ! -e "$tmp/huge.c"
out "$model" -o "$tmp/ok.c"; check "-o writes .c" test -s "$tmp/ok.c"; check "-o writes .h" test -s "$tmp/ok.h"
finish cli
