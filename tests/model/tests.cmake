# Real pretrained models (label `model`): tools/hf2xf.py converts Hugging Face
# checkpoints, xfc compiles them, and the generated C is compared with
# Hugging Face transformers' own modules.  model.venv makes the Python
# environment first (tests/model/venv.sh; it installs from PyPI once per build
# folder); every other test here needs it.
set(XF_MODEL_PYTHON_BASE /usr/bin/python3)
execute_process(COMMAND ${XF_MODEL_PYTHON_BASE} -c "import torch, numpy"
                RESULT_VARIABLE xf_model_torch_rc OUTPUT_QUIET ERROR_QUIET)
if(NOT xf_model_torch_rc EQUAL 0)
  message(STATUS "model tests: ${XF_MODEL_PYTHON_BASE} cannot import torch; model tests not registered")
  return()
endif()
set(XF_MODEL_VENV ${CMAKE_BINARY_DIR}/model-venv)
set(XF_MODEL_PY ${XF_MODEL_VENV}/bin/python)
set(XF_MODEL_WORK ${CMAKE_BINARY_DIR}/model)

add_test(NAME model.venv COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/venv.sh ${XF_MODEL_VENV})
set_tests_properties(model.venv PROPERTIES LABELS model FIXTURES_SETUP xf_model_venv TIMEOUT 600)

function(xf_model_test name script)
  add_test(NAME model.${name} COMMAND ${XF_MODEL_PY} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/${script}
           --xfc $<TARGET_FILE:xfc> --cc ${CMAKE_C_COMPILER} --workdir ${XF_MODEL_WORK}/${name} ${ARGN})
  set_tests_properties(model.${name} PROPERTIES LABELS model FIXTURES_REQUIRED xf_model_venv TIMEOUT 600)
endfunction()

xf_model_test(minilm test_minilm.py)
xf_model_test(decoders test_decoders.py)
add_test(NAME model.converter_errors COMMAND ${XF_MODEL_PYTHON_BASE}
         ${CMAKE_CURRENT_LIST_DIR}/test_converter_errors.py --xfc $<TARGET_FILE:xfc>
         --workdir ${XF_MODEL_WORK}/converter_errors)
set_tests_properties(model.converter_errors PROPERTIES LABELS model TIMEOUT 300)
xf_model_test(embed test_embed.py)
