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

# The NEON path, cross-compiled and run under qemu-user when both are here
# (Debian's gcc-aarch64-linux-gnu and qemu-user; without OpenMP).
find_program(XF_AARCH64_GCC aarch64-linux-gnu-gcc)
find_program(XF_QEMU_AARCH64 qemu-aarch64)
if(XF_AARCH64_GCC AND XF_QEMU_AARCH64 AND EXISTS /usr/aarch64-linux-gnu)
  add_test(NAME unit.test_gemm_neon
           COMMAND sh -c "\"$0\" -std=c11 -O2 -I\"$1\" -D_POSIX_C_SOURCE=200809L -DXF_BINARY_DIR='\"/tmp\"' \"$1/tests/gemm/test_gemm_isa.c\" -o \"$2/test_gemm_neon\" -lm && QEMU_LD_PREFIX=/usr/aarch64-linux-gnu \"$3\" \"$2/test_gemm_neon\""
                   ${XF_AARCH64_GCC} ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR} ${XF_QEMU_AARCH64})
  set_tests_properties(unit.test_gemm_neon PROPERTIES LABELS unit SKIP_RETURN_CODE 77)
endif()
