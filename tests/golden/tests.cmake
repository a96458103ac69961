# One golden test per example: its IR dumps must match tests/golden/NAME*.ir.
file(GLOB XF_GOLDEN_EXAMPLES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/examples/*.xf)
foreach(xf ${XF_GOLDEN_EXAMPLES})
  get_filename_component(name ${xf} NAME_WE)
  add_test(NAME golden.${name}
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_golden.sh $<TARGET_FILE:xfc> ${xf})
  set_tests_properties(golden.${name} PROPERTIES LABELS golden)
endforeach()
