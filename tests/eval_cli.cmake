# iopo eval end to end (IFEval, iopo-synth, TRACE; responses from a file and from a model) on both backends.
add_test(NAME eval_cli_cpu COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_eval_cli.sh $<TARGET_FILE:iopo> ${PROJECT_SOURCE_DIR}
                                   ${CMAKE_CURRENT_BINARY_DIR}/eval_cli_cpu cpu)
add_test(NAME eval_cli_vulkan COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_eval_cli.sh $<TARGET_FILE:iopo>
                                      ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/eval_cli_vulkan)
set_tests_properties(eval_cli_cpu eval_cli_vulkan PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 600)
