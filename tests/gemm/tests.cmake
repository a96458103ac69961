# The matrix-product kernels, one executable per ISA path the compiler can
# build (runtime sources compiled in, as generated code has them), labelled
# `unit`.  A path this CPU cannot run exits 77: skipped, never a silent pass.
find_package(OpenMP COMPONENTS C)
function(xf_gemm_test path)
  set(name test_gemm_${path})
  add_executable(${name} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/test_gemm_isa.c)
  target_compile_options(${name} PRIVATE ${XF_WARN} -O2 ${ARGN})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR})
  target_compile_definitions(${name} PRIVATE XF_BINARY_DIR="${CMAKE_BINARY_DIR}")
  target_link_libraries(${name} PRIVATE m)
  if(OpenMP_C_FOUND)
    target_link_libraries(${name} PRIVATE OpenMP::OpenMP_C)
  endif()
  add_test(NAME unit.${name} COMMAND ${name})
  set_tests_properties(unit.${name} PROPERTIES LABELS unit SKIP_RETURN_CODE 77
                       ENVIRONMENT OMP_WAIT_POLICY=PASSIVE)
endfunction()
xf_gemm_test(plain -DXFRT_PLAIN_C)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  xf_gemm_test(avx2 -mavx2 -mfma -mf16c)
  xf_gemm_test(avx512 -mavx512f -mavx512bw -mavx512vl -mavx2 -mfma -mf16c)
endif()
