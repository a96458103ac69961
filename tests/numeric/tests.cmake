# Numeric tests: xfc-generated C against the PyTorch reference (tests/reference/xfref.py).
# Included from tests/CMakeLists.txt; every test here is labelled `numeric`.
# How to run them by hand: see the top of tests/numeric/run_numeric.py.
#
# Exit status 77 means "inconclusive: the reference saw a routing near-tie";
# CTest shows it as skipped (SKIP_RETURN_CODE), never as a silent pass.

set(XF_TORCH_PYTHON /usr/bin/python3 CACHE FILEPATH "Python interpreter that has torch and numpy")
set(XF_NUMERIC_DIR ${CMAKE_CURRENT_LIST_DIR})
set(XF_REFERENCE_DIR ${CMAKE_CURRENT_LIST_DIR}/../reference)
set(XF_NUMERIC_WORK ${CMAKE_BINARY_DIR}/numeric)

if(NOT XF_HAVE_TORCH)   # probe again until it succeeds (torch may be installed later)
  execute_process(COMMAND ${XF_TORCH_PYTHON} -c "import torch, numpy"
                  RESULT_VARIABLE xf_torch_rc OUTPUT_QUIET ERROR_QUIET)
  if(xf_torch_rc EQUAL 0)
    set(XF_HAVE_TORCH ON CACHE INTERNAL "")
  else()
    set(XF_HAVE_TORCH OFF CACHE INTERNAL "")
  endif()
endif()

option(XF_REQUIRE_TORCH "Fail to configure when the numeric tests cannot run" OFF)
if(NOT XF_HAVE_TORCH AND XF_REQUIRE_TORCH)
  message(FATAL_ERROR "numeric tests: ${XF_TORCH_PYTHON} cannot import torch and numpy "
                      "(Debian: python3-torch python3-numpy; bash scripts/setup-debian.sh installs them)")
endif()
if(NOT XF_HAVE_TORCH)
  message(STATUS "numeric tests: ${XF_TORCH_PYTHON} cannot import torch; numeric tests not registered")
  return()
endif()

function(xf_numeric_test name)
  add_test(NAME ${name} COMMAND ${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS numeric SKIP_RETURN_CODE 77 TIMEOUT 300)
endfunction()

# The reference's own self-tests (no C involved).
xf_numeric_test(numeric.reference_selftest ${XF_TORCH_PYTHON} ${XF_REFERENCE_DIR}/test_xfref.py)

# One test per example: forward/decode vs the reference, clang and gcc, threads 1,2,3
# bitwise, bad inputs, bad weight files. And one under ASan+UBSan.
file(GLOB XF_NUMERIC_EXAMPLES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/examples/*.xf)
foreach(xf ${XF_NUMERIC_EXAMPLES})
  get_filename_component(ex ${xf} NAME_WE)
  xf_numeric_test(numeric.example.${ex}
    ${XF_TORCH_PYTHON} ${XF_NUMERIC_DIR}/run_numeric.py ${xf} --xfc $<TARGET_FILE:xfc>
    --cc clang,clang-native,gcc,clang-noomp --threads 1,2,3 --workdir ${XF_NUMERIC_WORK}/example_${ex})
  xf_numeric_test(numeric.asan.${ex}
    ${XF_TORCH_PYTHON} ${XF_NUMERIC_DIR}/run_numeric.py ${xf} --xfc $<TARGET_FILE:xfc>
    --sanitize-only --quick --workdir ${XF_NUMERIC_WORK}/asan_${ex})
endforeach()

# The weight formats (--weights bf16, q8): every example against the reference
# computed from w', one compiler, threads 1,2,3 bitwise and --no-fuse; every
# other example reads a BF16 (bf16) or F16 (q8) weights file.
set(xf_i 0)
foreach(xf ${XF_NUMERIC_EXAMPLES})
  get_filename_component(ex ${xf} NAME_WE)
  math(EXPR xf_odd "${xf_i} % 2")
  foreach(wf bf16 q8)
    set(xf_dtype F32)
    if(xf_odd AND wf STREQUAL "bf16")
      set(xf_dtype BF16)
    elseif(xf_odd)
      set(xf_dtype F16)
    endif()
    xf_numeric_test(numeric.example.${ex}.${wf}
      ${XF_TORCH_PYTHON} ${XF_NUMERIC_DIR}/run_numeric.py ${xf} --xfc $<TARGET_FILE:xfc>
      --weight-format ${wf} --file-dtype ${xf_dtype} --cc clang --threads 1,2,3
      --workdir ${XF_NUMERIC_WORK}/example_${ex}_${wf})
  endforeach()
  math(EXPR xf_i "${xf_i} + 1")
endforeach()

# Randomized small configurations, in shards so each test stays short.
set(XF_NUMERIC_RANDOM_SHARDS 5)
math(EXPR xf_last "${XF_NUMERIC_RANDOM_SHARDS} - 1")
foreach(k RANGE ${xf_last})
  xf_numeric_test(numeric.random.${k}
    ${XF_TORCH_PYTHON} ${XF_NUMERIC_DIR}/random_configs.py --xfc $<TARGET_FILE:xfc>
    --shard ${k}/${XF_NUMERIC_RANDOM_SHARDS} --workdir ${XF_NUMERIC_WORK}/random)
endforeach()

# The same configurations under the weight formats: each one once, in bf16
# (configs 0-3 mod 8) or q8 (4-7 mod 8).
foreach(k RANGE 7)
  if(k LESS 4)
    set(wf bf16)
  else()
    set(wf q8)
  endif()
  xf_numeric_test(numeric.random.${wf}.${k}
    ${XF_TORCH_PYTHON} ${XF_NUMERIC_DIR}/random_configs.py --xfc $<TARGET_FILE:xfc>
    --shard ${k}/8 --weight-format ${wf} --workdir ${XF_NUMERIC_WORK}/random_${wf})
endforeach()

# Crafted weights: exact routing ties and capacity drops, and the weight
# formats' own ties (wfmt_ties); each in f32 with clang and gcc, and in bf16
# and q8 with clang.
foreach(case moe_ties moe_drops mod_ties sffn_ties mod_threshold wfmt_ties)
  xf_numeric_test(numeric.crafted.${case}
    ${XF_TORCH_PYTHON} ${XF_NUMERIC_DIR}/crafted.py --xfc $<TARGET_FILE:xfc> --only ${case}
    --workdir ${XF_NUMERIC_WORK}/crafted)
  foreach(wf bf16 q8)
    xf_numeric_test(numeric.crafted.${case}.${wf}
      ${XF_TORCH_PYTHON} ${XF_NUMERIC_DIR}/crafted.py --xfc $<TARGET_FILE:xfc> --only ${case}
      --weight-format ${wf} --cc clang --workdir ${XF_NUMERIC_WORK}/crafted_${wf})
  endforeach()
endforeach()

# All examples linked into one program: only the API symbols are global.
list(LENGTH XF_NUMERIC_EXAMPLES xf_n_examples)
if(xf_n_examples GREATER 1)
  xf_numeric_test(numeric.link_examples
    ${XF_TORCH_PYTHON} ${XF_NUMERIC_DIR}/link_models.py --xfc $<TARGET_FILE:xfc> ${XF_NUMERIC_EXAMPLES}
    --workdir ${XF_NUMERIC_WORK}/link)
endif()
