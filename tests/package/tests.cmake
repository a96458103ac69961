# Install xfc into a temporary prefix and build an out-of-tree CMake project
# with two models against the installed package (run_package.sh says what
# it checks).  Labelled `package`; about a minute on two cores.
add_test(NAME package.install_and_consume
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_package.sh ${CMAKE_SOURCE_DIR}
                 ${CMAKE_BINARY_DIR}/package_test ${CMAKE_C_COMPILER} ${CMAKE_GENERATOR})
set_tests_properties(package.install_and_consume PROPERTIES LABELS package TIMEOUT 900)
