#!/usr/bin/env bash
# The one list of what xfc needs on Debian 12 beyond a minimal system: to
# build it, run every test, the examples and the benchmark.
#   bash scripts/setup-debian.sh           installs every package below (as root), then checks
#   bash scripts/setup-debian.sh --check   installs nothing: probes each package's tool the way
#                                          the scripts use it, names every missing package, exit 1
# scripts/test.sh and scripts/demo.sh run the check first, so a machine that
# lacks something fails up front with the package's name, not deep inside a test.
set -euo pipefail

aarch64_sysroot=/usr/aarch64-linux-gnu   # where libc6-dev-arm64-cross puts its headers

omp_c='#include <omp.h>
int main(void) { return omp_get_max_threads() < 1; }'
cmocka_c='#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
int main(void) { return 0; }'
fuzz_c='#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return (int)(0 * n * (d != 0)); }'
stdio_c='#include <stdio.h>
#include <math.h>
int f(void) { return printf("%f", sqrt(2.0)); }'

# Each row: a Debian package, then a shell probe that succeeds when what the
# scripts use of it is there. clang is given the aarch64 sysroot explicitly:
# without an aarch64 GCC it does not find libc6-dev-arm64-cross by itself.
# The aarch64 target tests (tests/targets) link with GCC's cross compiler,
# whose libgomp (libgomp1-arm64-cross, a dependency) is the arm64 OpenMP
# runtime Debian has, and run the programs under qemu-aarch64; the qemu row
# runs the program the row above it built (it follows that row).
packages=(
    "cmake|command -v cmake"
    "make|command -v make"
    "gcc|command -v gcc"
    "g++|command -v g++"
    "binutils|command -v nm"
    "clang|command -v clang"
    "flex|command -v flex"
    "bison|command -v bison"
    "libomp-dev|printf '%s\n' \"\$omp_c\" | clang -fopenmp -x c - -o \"\$probe_dir/omp\""
    "libcmocka-dev|printf '%s\n' \"\$cmocka_c\" | gcc -x c - -lcmocka -o \"\$probe_dir/cmocka\""
    "libclang-rt-14-dev|printf '%s\n' \"\$fuzz_c\" | clang -fsanitize=fuzzer,address,undefined -x c - -o \"\$probe_dir/fuzz\""
    "libutf8proc-dev|printf '#include <utf8proc.h>\nint main(void){return utf8proc_category(65) != UTF8PROC_CATEGORY_LU;}\n' | gcc -x c - -lutf8proc -o \"\$probe_dir/utf8proc\""
    "libc6-dev-arm64-cross|printf '%s\n' \"\$stdio_c\" | clang --target=aarch64-linux-gnu --sysroot=$aarch64_sysroot -x c -c - -o \"\$probe_dir/arm.o\""
    "gcc-aarch64-linux-gnu|printf '%s\n' \"\$omp_c\" | aarch64-linux-gnu-gcc -fopenmp -x c - -o \"\$probe_dir/omp-arm\""
    "qemu-user|command -v qemu-aarch64 && { test ! -x \"\$probe_dir/omp-arm\" || OMP_NUM_THREADS=2 qemu-aarch64 -L $aarch64_sysroot \"\$probe_dir/omp-arm\"; }"
    "python3|test -x /usr/bin/python3"
    "python3-torch|/usr/bin/python3 -c 'import torch'"
    "python3-numpy|/usr/bin/python3 -c 'import numpy'"
    "python3-venv|/usr/bin/python3 -c 'import ensurepip, venv'"
    "valgrind|command -v valgrind"
    "graphviz|command -v dot"
    "ca-certificates|test -s /etc/ssl/certs/ca-certificates.crt"
)

check() {
    local missing=() row pkg probe
    probe_dir=$(mktemp -d)
    for row in "${packages[@]}"; do
        pkg=${row%%|*}
        probe=${row#*|}
        eval "$probe" > /dev/null 2>&1 || missing+=("$pkg")
    done
    rm -rf "$probe_dir"
    if [ ${#missing[@]} -gt 0 ]; then
        echo "missing Debian packages: ${missing[*]}" >&2
        echo "install them with: bash scripts/setup-debian.sh   (as root)" >&2
        return 1
    fi
    echo "setup check: all ${#packages[@]} packages present"
}

if [ "${1:-}" = "--check" ]; then
    check
    exit
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${packages[@]%%|*}"
check
