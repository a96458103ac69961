#!/usr/bin/env bash
# Every test: a clang -O3 build (warnings as errors) runs the fast tests; a
# clang build under -fsanitize=address,undefined runs unit, diag and golden
# tests (leaks fail); a gcc build runs the whole suite last, so ctest's
# summary closes the output.
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

echo "== full suite (gcc)"
CC=gcc cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DXF_WERROR=ON -DXF_REQUIRE_TORCH=ON > /dev/null
cmake --build build-test -j"$jobs"
ctest --test-dir build-test -j"$jobs" --output-on-failure
