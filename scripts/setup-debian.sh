#!/usr/bin/env bash
# Installs everything xfc needs to build, test and run on Debian 12 (run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
    cmake make gcc clang flex bison libomp-dev libcmocka-dev libclang-rt-14-dev \
    python3 python3-torch python3-numpy valgrind \
    libc6-dev-arm64-cross libgcc-12-dev-arm64-cross ca-certificates graphviz
