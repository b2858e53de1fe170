# Each family against the PyTorch reference, on both backends (tools/reference/gpt2_reference.py with
# decoder_families.py, Debian python3-torch): gpt2 (with DPO/IOPO), llama (GQA, attention_bias, untied, llama3 RoPE
# scaling), qwen2 (tied, q/k/v biases), qwen3 (q/k norm, head_dim != dim/heads).
add_executable(test_decoder_reference ${CMAKE_CURRENT_SOURCE_DIR}/test_decoder_reference.c)
target_link_libraries(test_decoder_reference PRIVATE iopo_core)
target_include_directories(test_decoder_reference PRIVATE ${PROJECT_SOURCE_DIR}/src)
foreach(family gpt2 llama qwen2 qwen3)
  if(family STREQUAL "gpt2")
    set(name gpt2_reference)
  else()
    set(name decoder_reference_${family})
  endif()
  add_test(NAME ${name}
           COMMAND test_decoder_reference /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tools/reference/gpt2_reference.py
                   ${CMAKE_CURRENT_BINARY_DIR}/${name} ${family})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 600)
endforeach()

# The reference's own checks (float64 finite differences, padding semantics, loss formulas) so it can be trusted.
add_test(NAME gpt2_reference_selftest
         COMMAND /usr/bin/python3 ${PROJECT_SOURCE_DIR}/tools/reference/gpt2_reference.py --self-test)
set_tests_properties(gpt2_reference_selftest PROPERTIES TIMEOUT 300)

# The decoder driver's bookkeeping for every family on both backends: planned activation bytes equal the allocated
# ones, parameter counts, checkpoint names of fused and tied tensors, exact save/load, Vulkan = CPU.
add_executable(test_model_plan ${CMAKE_CURRENT_SOURCE_DIR}/test_model_plan.c)
target_link_libraries(test_model_plan PRIVATE iopo_core m)
target_include_directories(test_model_plan PRIVATE ${PROJECT_SOURCE_DIR}/src)
add_test(NAME model_plan COMMAND test_model_plan ${CMAKE_CURRENT_BINARY_DIR}/model_plan)
set_tests_properties(model_plan PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 300)
