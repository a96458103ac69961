#!/usr/bin/env bash
# Every test: builds xfc with clang (warnings as errors), with gcc under
# -fsanitize=address,undefined (runs unit, diag and golden tests there), and
# a plain gcc build that runs the whole suite last, so ctest's summary closes
# the output.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=2
export XF_TEST_JOBS=$jobs

echo "== clang build (-Wall -Wextra -Werror)"
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Debug -DXF_WERROR=ON -DXF_TESTS=OFF > /dev/null
cmake --build build-clang -j"$jobs"

echo "== sanitizer build: unit, diag and golden tests under ASan+UBSan (leaks are failures)"
CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DXF_WERROR=ON -DXF_SANITIZE=ON > /dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -L 'unit|diag|golden' -j"$jobs" --output-on-failure

echo "== full suite (gcc)"
CC=gcc cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DXF_WERROR=ON > /dev/null
cmake --build build-test -j"$jobs"
ctest --test-dir build-test -j"$jobs" --output-on-failure
