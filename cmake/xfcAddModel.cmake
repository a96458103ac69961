# xfcAddModel.cmake - xfc_add_model(), included by xfcConfig.cmake.
#
#   xfc_add_model(TARGET model.xf [WEIGHTS f32|bf16|q8] [NO_OPENMP] [OPTIONS flag...])
#
# Adds a custom command that runs xfc::xfc on model.xf at build time (again
# whenever model.xf or xfc changes) and a library TARGET built from the
# generated C.  The generated header, named after model.xf (model.h), is on
# TARGET's public include path; its API prefix is the model's name inside the
# file.  TARGET is an ordinary library: it is compiled with the project's C
# flags, as C11, and with OpenMP when find_package(OpenMP) finds it for C
# (unless NO_OPENMP).  docs/cmake.md describes every argument.
include_guard(GLOBAL)

function(xfc_add_model target xf)
  cmake_parse_arguments(PARSE_ARGV 2 _xa "NO_OPENMP" "WEIGHTS" "OPTIONS")
  if(_xa_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "xfc_add_model(${target}): unexpected arguments: ${_xa_UNPARSED_ARGUMENTS}"
                        " (expected WEIGHTS f32|bf16|q8, NO_OPENMP, OPTIONS ...)")
  endif()
  if(_xa_KEYWORDS_MISSING_VALUES)
    message(FATAL_ERROR "xfc_add_model(${target}): ${_xa_KEYWORDS_MISSING_VALUES} needs a value")
  endif()
  if(NOT TARGET xfc::xfc)
    message(FATAL_ERROR "xfc_add_model(${target}): xfc::xfc is not defined; call find_package(xfc) first")
  endif()
  get_property(_langs GLOBAL PROPERTY ENABLED_LANGUAGES)
  if(NOT "C" IN_LIST _langs)
    message(FATAL_ERROR "xfc_add_model(${target}): the project must enable the C language "
                        "(project(... LANGUAGES C) or enable_language(C))")
  endif()

  set(_weights_flags "")
  if(DEFINED _xa_WEIGHTS)
    if(NOT _xa_WEIGHTS MATCHES "^(f32|bf16|q8)$")
      message(FATAL_ERROR "xfc_add_model(${target}): WEIGHTS must be f32, bf16 or q8, got '${_xa_WEIGHTS}'")
    endif()
    # f32 is xfc's default: only the other formats are passed on
    if(NOT _xa_WEIGHTS STREQUAL "f32")
      set(_weights_flags --weights ${_xa_WEIGHTS})
    endif()
  endif()
  foreach(_opt IN LISTS _xa_OPTIONS)
    if(_opt MATCHES "^(-o|--weights|--init-weights|--dump-dot)$")
      message(FATAL_ERROR "xfc_add_model(${target}): OPTIONS may not contain ${_opt} "
                          "(the output is chosen by xfc_add_model; use WEIGHTS for --weights)")
    endif()
  endforeach()

  get_filename_component(_xf "${xf}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  if(NOT EXISTS "${_xf}")
    message(FATAL_ERROR "xfc_add_model(${target}): no such file: ${_xf}")
  endif()
  get_filename_component(_stem "${_xf}" NAME_WE)
  if(NOT _stem MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
    message(FATAL_ERROR "xfc_add_model(${target}): the file name '${_stem}' must be a C identifier "
                        "(the generated header is named after it)")
  endif()
  set(_dir "${CMAKE_CURRENT_BINARY_DIR}/xfc/${target}")
  set(_c "${_dir}/${_stem}.c")
  set(_h "${_dir}/${_stem}.h")
  file(MAKE_DIRECTORY "${_dir}")
  add_custom_command(
    OUTPUT "${_c}" "${_h}"
    COMMAND xfc::xfc "${_xf}" -o "${_c}" ${_weights_flags} ${_xa_OPTIONS}
    MAIN_DEPENDENCY "${_xf}"
    DEPENDS "$<TARGET_FILE:xfc::xfc>"
    COMMENT "xfc: compiling ${_stem}.xf to C for ${target}"
    VERBATIM)

  add_library(${target} "${_c}" "${_h}")
  target_include_directories(${target} PUBLIC "$<BUILD_INTERFACE:${_dir}>")
  target_compile_features(${target} PRIVATE c_std_11)
  set_target_properties(${target} PROPERTIES
    C_EXTENSIONS OFF
    XFC_MODEL_SOURCE "${_xf}"
    XFC_GENERATED_C "${_c}"
    XFC_GENERATED_H "${_h}")
  if(NOT _xa_NO_OPENMP)
    find_package(OpenMP QUIET COMPONENTS C)
    if(OpenMP_C_FOUND)
      target_link_libraries(${target} PRIVATE OpenMP::OpenMP_C)
    endif()
  endif()
  find_library(XFC_LIBM m)
  mark_as_advanced(XFC_LIBM)
  if(XFC_LIBM)
    target_link_libraries(${target} PRIVATE "${XFC_LIBM}")
  endif()
endfunction()
