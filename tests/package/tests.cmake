# Install xfc into a temporary prefix and build an out-of-tree CMake project
# with two models against the installed package (run_package.sh says what
# it checks).  Labelled `package`; about a minute on two cores.
add_test(NAME package.install_and_consume
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_package.sh ${CMAKE_SOURCE_DIR}
                 ${CMAKE_BINARY_DIR}/package_test ${CMAKE_C_COMPILER} ${CMAKE_GENERATOR})
set_tests_properties(package.install_and_consume PROPERTIES LABELS package TIMEOUT 900)

# The same two models through xfc_add_model() inside this build (as a project
# that adds xfc with add_subdirectory would), run in every build, sanitizers
# included.
set(xf_pkg_omp "")
if(XF_SANITIZE)
  set(xf_pkg_omp NO_OPENMP)   # keep OpenMP runtimes out of the leak checker
endif()
xfc_add_model(xf_pkg_chat ${CMAKE_CURRENT_LIST_DIR}/consumer/chat.xf ${xf_pkg_omp})
xfc_add_model(xf_pkg_router ${CMAKE_CURRENT_LIST_DIR}/consumer/router.xf ${xf_pkg_omp} OPTIONS --line-directives)
add_executable(xf_pkg_two_models ${CMAKE_CURRENT_LIST_DIR}/consumer/two_models.c)
target_link_libraries(xf_pkg_two_models PRIVATE xf_pkg_chat xf_pkg_router)
add_test(NAME package.in_tree_models
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/run_in_tree.sh $<TARGET_FILE:xfc>
                 ${CMAKE_CURRENT_LIST_DIR}/consumer/chat.xf ${CMAKE_CURRENT_LIST_DIR}/consumer/router.xf
                 ${CMAKE_CURRENT_BINARY_DIR}/in_tree_models $<TARGET_FILE:xf_pkg_two_models>)
set_tests_properties(package.in_tree_models PROPERTIES LABELS unit)
