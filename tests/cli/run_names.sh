#!/usr/bin/env bash
# Every model name xfc accepts gives C that builds; every name it refuses
# gets a located error.  The names are the ones most likely to collide: the
# generated code's own parameters and locals, libc's identifiers and macros,
# C keywords, API names made from the model name, names that differ only in
# case or after a long prefix (distinct header guards, one program).
#   run_names.sh XFC
set -uo pipefail
xfc=$1
. "$(dirname "$0")/checks.sh"
flags="-std=c11 -Wall -Wextra -pedantic -Werror"
model() {   # model NAME > FILE: a small model using every sublayer kind
    printf 'model %s {\n  vocab = 16\n  dim = 8\n  context = 4\n' "$1"
    printf '  block b { attention(heads = 2) moe(experts = 2, top_k = 1, hidden = 8) }\n'
    printf '  layers { b mod(capacity = 0.5) b sparse_ffn(hidden = 8, block = 2) }\n}\n'
}

# Names that must be accepted: the generated code is immune to them.
accept="m err err_size local weights_path tokens token logits decode n i A kv fail st w
arena kv_pos kv_mem n_past t1 t2 t7 r3 k2 a5 b c x y e E out y_ Model MODEL model_ gpt2 llama
llama_7b x_f fx tiny XxF kv_dim cap len pos heads head_dim experts top_k hidden block_ run
weights forward decode_ reset close_ open_ Open FREE File eof Stdin"
# Names that must be refused: C keywords, reserved identifiers, the xf
# prefix, main, and what the included headers declare (libc functions,
# types, macros), or API names colliding with those (shm -> shm_open).
refuse="int double bool true false static_assert _x __x _Foo xf xfoo XF_Y Xfrt xFoo main
free FILE EOF stdin stdout stderr open close read write errno stat timespec NULL size_t
int32_t uint8_t ptrdiff_t va_list printf malloc calloc memcpy strlen sqrtf expf M_PI
HUGE_VAL O_RDONLY O_NONBLOCK PROT_READ MAP_PRIVATE mmap munmap fstat S_ISREG SEEK_SET
INT32_MAX BUFSIZ linux unix off_t ssize_t abort exit shm"
for nm in $accept $refuse; do
    model "$nm" > "$tmp/m.xf"
    rm -rf "$tmp/o"; mkdir "$tmp/o"
    if "$xfc" "$tmp/m.xf" -o "$tmp/o/gen.c" 2> "$tmp/err"; then
        case " $(echo $refuse) " in *" $nm "*) check "'$nm' must be refused" false ;; esac
        for cc in clang gcc; do
            check "model '$nm': $cc builds it" $cc $flags -fopenmp -fsyntax-only "$tmp/o/gen.c"
        done
    else
        case " $(echo $accept) " in *" $nm "*) check "'$nm' must be accepted ($(head -n 1 "$tmp/err"))" false ;; esac
        check "model '$nm': refused at the name" grep -q "m.xf:1:7: error: " "$tmp/err"
        check "model '$nm': nothing written" test -z "$(ls -A "$tmp/o")"
    fi
done

# Names that differ only in case, or only after a long prefix, in one program.
long=$(printf 'p%.0s' $(seq 1 300))
names="tiny Tiny TINY ${long}a ${long}b"
mkdir -p "$tmp/one"
printf '#include <stdio.h>\n' > "$tmp/one/main.c"
k=0
for nm in $names; do          # files g1.c ...: a 300-byte name is too long for a file name
    k=$((k + 1))
    model "$nm" > "$tmp/m.xf"
    "$xfc" "$tmp/m.xf" -o "$tmp/one/g$k.c" || check "model '$nm' compiles" false
    printf '#include "g%d.h"\n' "$k" >> "$tmp/one/main.c"
done
{
    echo 'int main(void) {'
    echo '    char err[256];'
    echo '    int bad = 0;'
    for nm in $names; do
        echo "    { $nm *x = ${nm}_open(\"/nonexistent.safetensors\", err, sizeof err);"
        echo "      bad += x != NULL || ${nm}_VOCAB != 16; }"
    done
    echo '    printf("%d\n", bad);'
    echo '    return bad;'
    echo '}'
} >> "$tmp/one/main.c"
guards=$(grep -h '^#ifndef' "$tmp"/one/*.h | sort -u | wc -l)
check "distinct header guards" [ "$guards" = 5 ]
for cc in clang gcc; do
    check "case and long-prefix names: $cc links one program" \
        $cc $flags -I"$tmp/one" "$tmp"/one/*.c -lm -o "$tmp/one/prog"
    check "case and long-prefix names: the program runs" "$tmp/one/prog"
done

finish names
