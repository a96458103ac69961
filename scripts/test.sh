#!/usr/bin/env bash
# Every test: a clang -O3 build (warnings as errors) runs the fast tests; a
# clang build under -fsanitize=address,undefined runs unit, diag and golden
# tests (leaks fail); each fuzz target runs briefly; a gcc build runs the
# whole suite last, so ctest's summary closes the output.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-debian.sh --check
jobs=2
export XF_TEST_JOBS=$jobs

echo "== clang release build (-O3 -Wall -Wextra -Werror): unit, diag and golden tests"
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DXF_WERROR=ON > /dev/null
cmake --build build-clang -j"$jobs"
ctest --test-dir build-clang -L 'unit|diag|golden' -j"$jobs" --output-on-failure

echo "== sanitizer build: unit, diag and golden tests under ASan+UBSan (leaks are failures)"
CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DXF_WERROR=ON -DXF_SANITIZE=ON > /dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -L 'unit|diag|golden' -j"$jobs" --output-on-failure

# ---- fuzzing (tests/fuzz): each libFuzzer target for a short, bounded run --
# over its committed seeds; new inputs go to a scratch folder, so the tree is
# untouched.  A crash, sanitizer report, leak or timeout fails the script.
echo "== fuzz targets (libFuzzer + ASan + UBSan), ${XF_FUZZ_SECONDS:-20} s each"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DXF_WERROR=ON -DXF_FUZZ=ON \
    -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all" > /dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz_frontend fuzz_safetensors
fuzz_tmp=$(mktemp -d)
for t in frontend:xf safetensors:safetensors; do
    target=${t%%:*}; dict=${t#*:}
    mkdir -p "$fuzz_tmp/$target"
    ./build-fuzz/tests/fuzz_$target -max_total_time="${XF_FUZZ_SECONDS:-20}" -timeout=10 \
        -rss_limit_mb=2048 -dict=tests/fuzz/$dict.dict -artifact_prefix="$fuzz_tmp/" \
        -print_final_stats=1 "$fuzz_tmp/$target" tests/fuzz/corpus/$target > "$fuzz_tmp/$target.log" 2>&1 \
        && status=0 || status=$?
    grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss)" "$fuzz_tmp/$target.log" || true
    if [ "$status" != 0 ] || ls "$fuzz_tmp"/crash-* "$fuzz_tmp"/leak-* "$fuzz_tmp"/timeout-* \
            "$fuzz_tmp"/oom-* > /dev/null 2>&1; then
        tail -n 40 "$fuzz_tmp/$target.log"
        echo "FAIL: fuzz_$target (status $status); the input and log are kept in $fuzz_tmp"
        exit 1
    fi
done
rm -rf "$fuzz_tmp"

echo "== full suite (gcc)"
CC=gcc cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DXF_WERROR=ON -DXF_REQUIRE_TORCH=ON > /dev/null
cmake --build build-test -j"$jobs"
ctest --test-dir build-test -j"$jobs" --output-on-failure
