# The docs stay inside the repository: relative links resolve, and nothing a
# reader or a user of generated code sees points at files outside it.
add_test(NAME docs.self_contained
         COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/check_docs.py ${CMAKE_SOURCE_DIR} $<TARGET_FILE:xfc>
                 ${CMAKE_BINARY_DIR}/docs_check)
set_tests_properties(docs.self_contained PROPERTIES LABELS unit)

# scripts/render-ir.sh still draws the IR picture (a MoE and a MoD block).
find_program(XF_DOT dot)
find_program(XF_GVPR gvpr)
if(XF_DOT AND XF_GVPR)
  add_test(NAME docs.render_ir
           COMMAND bash -c "bash \"$0\" \"$1\" \"$2\" && grep -q mod_select \"$2/ir.svg\" && grep -q moe_route \"$2/ir.svg\" && grep -q '</svg>' \"$2/ir.svg\""
                   ${CMAKE_SOURCE_DIR}/scripts/render-ir.sh $<TARGET_FILE:xfc> ${CMAKE_BINARY_DIR}/render_ir)
  set_tests_properties(docs.render_ir PROPERTIES LABELS unit)
else()
  message(STATUS "docs.render_ir: Graphviz (dot, gvpr) not found; test not registered")
endif()
