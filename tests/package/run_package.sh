#!/usr/bin/env bash
# The install and the CMake package, end to end, as a fresh user sees them:
#  1. copy the source tree (tracked and untracked files, no .git, no builds),
#     configure, build and `cmake --install` it into a temporary prefix;
#     check what lands where, and that --version falls back without git;
#  2. move the installed prefix (the package must be relocatable);
#  3. configure tests/package/consumer against the moved prefix only,
#     build it (two models through xfc_add_model) and run the program;
#  4. rebuild with nothing changed: xfc does not run again; edit one .xf:
#     its C is generated again, the program sees the new size and still runs;
#  5. xfc_add_model refuses a bad WEIGHTS value, and passes --weights only
#     for bf16/q8.
#   run_package.sh SOURCE_DIR WORKDIR C_COMPILER GENERATOR
set -euo pipefail
src=$1; work=$2; cc=$3; gen=$4
jobs=${XF_TEST_JOBS:-2}
rm -rf "$work"
mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $*"; }

step "copy the source tree"
mkdir "$work/src"
if git -C "$src" rev-parse --git-dir > /dev/null 2>&1; then
    # tracked and untracked-but-not-ignored files, as they are in the working tree
    git -C "$src" ls-files -z --cached --others --exclude-standard |
        tar -C "$src" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$work/src"
else
    (cd "$src" && tar -cf - --exclude='./build*' --exclude=./.git --exclude=./out .) | tar -xf - -C "$work/src"
fi
test -f "$work/src/CMakeLists.txt" || fail "source copy has no CMakeLists.txt"

step "configure, build and install xfc into $work/prefix"
cmake -S "$work/src" -B "$work/build" -G "$gen" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
      -DXF_TESTS=OFF > "$work/xfc-configure.log" || { cat "$work/xfc-configure.log"; fail "configure xfc"; }
cmake --build "$work/build" -j"$jobs" > "$work/xfc-build.log" || { tail -50 "$work/xfc-build.log"; fail "build xfc"; }
cmake --install "$work/build" --prefix "$work/prefix" > "$work/install.log" || { cat "$work/install.log"; fail "install"; }
for f in bin/xfc share/man/man1/xfc.1 share/doc/xfc/README.md share/doc/xfc/docs/language.md \
         share/doc/xfc/docs/c-api.md share/doc/xfc/docs/cmake.md lib/cmake/xfc/xfcConfig.cmake \
         lib/cmake/xfc/xfcConfigVersion.cmake lib/cmake/xfc/xfcAddModel.cmake; do
    test -f "$work/prefix/$f" || fail "install did not write $f"
done
test -x "$work/prefix/bin/xfc" || fail "bin/xfc is not executable"
test ! -e "$work/prefix/share/doc/xfc/docs/xfc.1" || fail "the man page is installed twice"
v=$("$work/prefix/bin/xfc" --version)
[ "$v" = "xfc 0.1.0 (revision unknown)" ] || fail "--version without git prints '$v'"
echo "installed: $v"

step "move the prefix (relocatable package)"
mv "$work/prefix" "$work/moved"
rm -rf "$work/build"   # nothing of the build tree may be needed any more

step "configure and build the consumer against the installed package"
cp -r "$src/tests/package/consumer" "$work/app"
cmake -S "$work/app" -B "$work/app-build" -G "$gen" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$work/moved" > "$work/app-configure.log" ||
    { cat "$work/app-configure.log"; fail "configure the consumer"; }
grep -q "^xfc_DIR:PATH=$work/moved/lib/cmake/xfc" "$work/app-build/CMakeCache.txt" ||
    fail "find_package(xfc) did not find the moved prefix: $(grep xfc_DIR "$work/app-build/CMakeCache.txt")"
cmake --build "$work/app-build" -j"$jobs" > "$work/app-build.log" || { cat "$work/app-build.log"; fail "build the consumer"; }
grep -q "xfc: compiling chat.xf" "$work/app-build.log" || fail "xfc did not run for chat.xf"
grep -q "^ *#line [0-9]* \".*router.xf\"" "$work/app-build/xfc/router_model/router.c" ||
    fail "OPTIONS --line-directives did not reach xfc"
if grep -q "^OpenMP_C_FLAGS:STRING=-f" "$work/app-build/CMakeCache.txt"; then
    readelf -d "$work/app-build/two_models" | grep -qE "NEEDED.*lib(g|i)?omp" ||
        fail "OpenMP was found but two_models does not link its runtime"
    echo "linked with OpenMP: $(readelf -d "$work/app-build/two_models" | grep -oE 'lib(g|i)?omp[^]]*')"
fi
run() { "$work/app-build/two_models" "$work/app-build/chat.safetensors" "$work/app-build/router.safetensors"; }
out=$(run) || { echo "$out"; fail "two_models failed"; }
echo "$out"
grep -q "^chat: vocab 64 dim 32 context 16: ok$" <<< "$out" || fail "chat did not run"
grep -q "^router: vocab 48 dim 32 context 16: ok$" <<< "$out" || fail "router did not run"

step "a no-op rebuild does not run xfc; editing a .xf does"
cmake --build "$work/app-build" -j"$jobs" > "$work/app-rebuild.log"
! grep -q "xfc: " "$work/app-rebuild.log" || { cat "$work/app-rebuild.log"; fail "xfc ran with nothing changed"; }
sleep 1   # a newer mtime than the outputs, on file systems with 1 s resolution
sed -i 's/vocab = 48/vocab = 40/' "$work/app/router.xf"
cmake --build "$work/app-build" -j"$jobs" > "$work/app-edit.log" || { cat "$work/app-edit.log"; fail "rebuild after edit"; }
grep -q "xfc: compiling router.xf" "$work/app-edit.log" || { cat "$work/app-edit.log"; fail "editing router.xf did not regenerate it"; }
! grep -q "xfc: compiling chat.xf" "$work/app-edit.log" || fail "editing router.xf regenerated chat.xf too"
grep -q "define router_VOCAB   40" "$work/app-build/xfc/router_model/router.h" || fail "router.h not regenerated"
out=$(run) || { echo "$out"; fail "two_models failed after the edit"; }
echo "$out"
grep -q "^router: vocab 40 dim 32 context 16: ok$" <<< "$out" || fail "the program did not pick up the edit"

step "WEIGHTS: bad values are refused, bf16/q8 become --weights"
mkdir -p "$work/w"
cp "$src/tests/package/consumer/chat.xf" "$work/w/"
for w in f32 bf16 q4 ""; do
    d="$work/w/$w"; mkdir -p "$d"
    arg=${w:+WEIGHTS $w}; [ -n "$w" ] || arg="WEIGHTS"
    printf 'cmake_minimum_required(VERSION 3.20)\nproject(w LANGUAGES C)\nfind_package(xfc REQUIRED)\nxfc_add_model(m ../chat.xf %s)\n' \
        "$arg" > "$d/CMakeLists.txt"
    set +e
    cmake -S "$d" -B "$d/b" -G "$gen" -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$work/moved" > "$d/log" 2>&1
    rc=$?
    set -e
    cmds=$(cat "$d/b"/build.ninja "$d/b"/CMakeFiles/m.dir/build.make 2>/dev/null | grep -- "chat.xf -o" || true)
    case $w in
        f32)  [ $rc = 0 ] || { cat "$d/log"; fail "WEIGHTS f32 refused"; }
              ! grep -q -- "--weights" <<< "$cmds" || fail "WEIGHTS f32 passed --weights: $cmds" ;;
        bf16) [ $rc = 0 ] || { cat "$d/log"; fail "WEIGHTS bf16 refused"; }
              grep -q -- "--weights bf16" <<< "$cmds" || fail "WEIGHTS bf16 did not pass --weights bf16: $cmds" ;;
        q4)   [ $rc != 0 ] || fail "WEIGHTS q4 accepted"
              grep -q "WEIGHTS must be f32, bf16 or q8, got 'q4'" "$d/log" || { cat "$d/log"; fail "no message for q4"; } ;;
        "")   [ $rc != 0 ] || fail "WEIGHTS without a value accepted"
              grep -q "WEIGHTS needs a value" "$d/log" || { cat "$d/log"; fail "no message for WEIGHTS without value"; } ;;
    esac
done
echo "package: all checks passed"
