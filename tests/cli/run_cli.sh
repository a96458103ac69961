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
# --weights: the three formats, the header's macros, --stats; a bad value writes nothing
check "--help lists --weights" grep -q -- "--weights FORMAT" <("$xfc" --help)
check "default header says f32" grep -q '_WEIGHTS     "f32"' "$tmp/ok.h"
mkdir -p "$tmp/f32"
out "$model" -o "$tmp/f32/ok.c" --weights f32; check "--weights f32 exits 0" rc 0
check "--weights f32 is the default" bash -c "diff <(tail -n +3 '$tmp/ok.c') <(tail -n +3 '$tmp/f32/ok.c') && cmp -s '$tmp/ok.h' '$tmp/f32/ok.h'"
f32_bytes=$(sed -n 's/.*_WEIGHT_BYTES \([0-9]*\).*/\1/p' "$tmp/ok.h")
for wf in bf16 q8; do
    out "$model" -o "$tmp/$wf.c" --weights $wf; check "--weights $wf exits 0" rc 0
    check "--weights $wf header" grep -q "_WEIGHTS     \"$wf\"" "$tmp/$wf.h"
    check "--weights $wf open converts" grep -q "XFRT_WF_${wf^^}" "$tmp/$wf.c"
    check "--weights $wf keeps norms f32" grep -q 'norm.weight", 1, {[0-9]*, 0, 0}, XFRT_WF_F32, 0}' "$tmp/$wf.c"
    b=$(sed -n 's/.*_WEIGHT_BYTES \([0-9]*\).*/\1/p' "$tmp/$wf.h")
    check "--weights $wf resident bytes below f32 ($b < $f32_bytes)" test "$b" -lt "$f32_bytes"
    out "$model" --stats --weights $wf
    check "--stats --weights $wf" has "^weights: $wf, $b bytes resident (f32: $f32_bytes)" stdout
done
out "$model" --stats;       check "--stats weights line" has "^weights: f32, $f32_bytes bytes resident" stdout
for bad in q4 F32 "" ; do
    out "$model" -o "$tmp/wbad.c" --weights "$bad"; check "--weights '$bad' exits 1" rc 1
    check "--weights '$bad' says why" has "weights expects f32, bf16 or q8" stderr
    check "--weights '$bad' writes nothing" test ! -e "$tmp/wbad.c" -a ! -e "$tmp/wbad.h"
done
out "$model" -o "$tmp/wbad.c" --weights; check "--weights without a value exits 1" rc 1
check "--weights without a value says so" has "--weights expects an argument" stderr
# --init-dtype: BF16 and F16 files, deterministic; a bad dtype writes nothing
for dt in BF16 F16; do
    out "$model" --init-weights "$tmp/w_$dt.safetensors" --seed 3 --init-dtype $dt; check "--init-dtype $dt" rc 0
    check "--init-dtype $dt header" grep -q "\"dtype\":\"$dt\"" "$tmp/w_$dt.safetensors"
    check "--init-dtype $dt has no F32" bash -c "! grep -q '\"F32\"' '$tmp/w_$dt.safetensors'"
    out "$model" --init-weights "$tmp/w_${dt}2.safetensors" --seed 3 --init-dtype ${dt,,}
    check "--init-dtype $dt deterministic (any case)" cmp -s "$tmp/w_$dt.safetensors" "$tmp/w_${dt}2.safetensors"
done
out "$model" --init-weights "$tmp/w_bad.safetensors" --init-dtype I8; check "--init-dtype I8 exits 1" rc 1
check "--init-dtype I8 says why" has "init-dtype expects F32, BF16 or F16" stderr
check "--init-dtype I8 writes nothing" test ! -e "$tmp/w_bad.safetensors"
finish cli
