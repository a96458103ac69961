# Per-target runs: the same generated C built for each target (x86-64
# baseline, AVX2, AVX-512, the plain C kernels, aarch64 with GCC and OpenMP,
# aarch64 with clang), run (aarch64 under qemu-user) against the PyTorch
# reference and bitwise across 1, 2 and 3 threads. Labelled `targets`.
# A target this machine's CPU cannot run exits 77: CTest shows it skipped.
# How to run one by hand: see the top of tests/targets/run_targets.py.
#
# XF_HAVE_TORCH and XF_TORCH_PYTHON come from tests/numeric/tests.cmake,
# included before this file (tests/CMakeLists.txt globs in sorted order).
if(NOT XF_HAVE_TORCH)
  message(STATUS "target tests: ${XF_TORCH_PYTHON} cannot import torch; target tests not registered")
  return()
endif()

# A dense llama-style model, a routed MoE (top-1 with capacity drops, top-2)
# and a mixture-of-depths model: together every kernel family.
set(XF_TARGET_MODELS ${CMAKE_SOURCE_DIR}/examples/llama.xf ${CMAKE_SOURCE_DIR}/examples/switch_moe.xf
    ${CMAKE_SOURCE_DIR}/examples/mod.xf)
foreach(t x86-64 x86-64-v3 x86-64-v4 plain-c aarch64 aarch64-clang)
  add_test(NAME targets.${t}
    COMMAND ${XF_TORCH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/run_targets.py --xfc $<TARGET_FILE:xfc>
            --target ${t} --threads 1,2,3 --workdir ${CMAKE_BINARY_DIR}/targets/${t} ${XF_TARGET_MODELS})
  set_tests_properties(targets.${t} PROPERTIES LABELS targets SKIP_RETURN_CODE 77 TIMEOUT 600)
endforeach()
