# Command-line behaviour and generated-code hygiene.
add_test(NAME cli.options COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_cli.sh $<TARGET_FILE:xfc>
         ${CMAKE_SOURCE_DIR}/examples/llama.xf)
set_tests_properties(cli.options PROPERTIES LABELS unit)
add_test(NAME codegen.hygiene COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_codegen_checks.sh
         $<TARGET_FILE:xfc> ${CMAKE_SOURCE_DIR}/examples/brainformer.xf ${CMAKE_SOURCE_DIR}/examples/gpt2.xf)
set_tests_properties(codegen.hygiene PROPERTIES LABELS numeric)
add_test(NAME cli.hardening COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_hardening.sh $<TARGET_FILE:xfc>)
set_tests_properties(cli.hardening PROPERTIES LABELS unit)
add_test(NAME cli.names COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_names.sh $<TARGET_FILE:xfc>)
set_tests_properties(cli.names PROPERTIES LABELS numeric)
# --help, the man page and main.c's parser list the same flags; exit status documented.
add_test(NAME cli.manpage COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_manpage.sh $<TARGET_FILE:xfc>
         ${CMAKE_SOURCE_DIR}/docs/xfc.1 ${CMAKE_SOURCE_DIR}/main.c)
set_tests_properties(cli.manpage PROPERTIES LABELS unit)
