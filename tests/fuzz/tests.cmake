# tests/fuzz: libFuzzer targets, built only with -DXF_FUZZ=ON by clang with
#   CMAKE_C_FLAGS=-fsanitize=fuzzer-no-link,address,undefined
# (scripts/test.sh does this and runs each target for a short time over its
# seed corpus; see tests/fuzz/README.md for longer campaigns).
option(XF_FUZZ "Build the libFuzzer targets in tests/fuzz" OFF)
if(XF_FUZZ)
  add_executable(fuzz_frontend ${CMAKE_CURRENT_LIST_DIR}/fuzz_frontend.c)
  target_compile_options(fuzz_frontend PRIVATE ${XF_WARN})
  target_include_directories(fuzz_frontend PRIVATE ${CMAKE_SOURCE_DIR})
  target_link_libraries(fuzz_frontend PRIVATE xf_frontend xf_codegen xf_passes xf_ir xf_support)
  target_link_options(fuzz_frontend PRIVATE -fsanitize=fuzzer)
  add_executable(fuzz_safetensors ${CMAKE_CURRENT_LIST_DIR}/fuzz_safetensors.c)
  target_compile_options(fuzz_safetensors PRIVATE ${XF_WARN})
  target_include_directories(fuzz_safetensors PRIVATE ${CMAKE_SOURCE_DIR})
  target_link_libraries(fuzz_safetensors PRIVATE xfrt)
  target_link_options(fuzz_safetensors PRIVATE -fsanitize=fuzzer)
endif()
