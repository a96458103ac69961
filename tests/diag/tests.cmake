# tests/diag: one bad program per diagnostic.  NAME.xf is compiled by xfc and
# must fail with exactly NAME.err on stderr and no output written (see
# run_diag.sh; XFC_UPDATE_GOLDEN=1 refreshes the .err files).
file(GLOB XF_DIAG_CASES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.xf)
foreach(xf ${XF_DIAG_CASES})
  get_filename_component(name ${xf} NAME_WE)
  add_test(NAME diag.${name}
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_diag.sh $<TARGET_FILE:xfc> ${name})
  set_tests_properties(diag.${name} PROPERTIES LABELS diag)
endforeach()
