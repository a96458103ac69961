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

# Randomized small configurations, in shards so each test stays short.
set(XF_NUMERIC_RANDOM_SHARDS 5)
math(EXPR xf_last "${XF_NUMERIC_RANDOM_SHARDS} - 1")
foreach(k RANGE ${xf_last})
  xf_numeric_test(numeric.random.${k}
    ${XF_TORCH_PYTHON} ${XF_NUMERIC_DIR}/random_configs.py --xfc $<TARGET_FILE:xfc>
    --shard ${k}/${XF_NUMERIC_RANDOM_SHARDS} --workdir ${XF_NUMERIC_WORK}/random)
endforeach()

# Crafted weights: exact routing ties and capacity drops.
foreach(case moe_ties moe_drops mod_ties sffn_ties mod_threshold)
  xf_numeric_test(numeric.crafted.${case}
    ${XF_TORCH_PYTHON} ${XF_NUMERIC_DIR}/crafted.py --xfc $<TARGET_FILE:xfc> --only ${case}
    --workdir ${XF_NUMERIC_WORK}/crafted)
endforeach()

# All examples linked into one program: only the API symbols are global.
list(LENGTH XF_NUMERIC_EXAMPLES xf_n_examples)
if(xf_n_examples GREATER 1)
  xf_numeric_test(numeric.link_examples
    ${XF_TORCH_PYTHON} ${XF_NUMERIC_DIR}/link_models.py --xfc $<TARGET_FILE:xfc> ${XF_NUMERIC_EXAMPLES}
    --workdir ${XF_NUMERIC_WORK}/link)
endif()
