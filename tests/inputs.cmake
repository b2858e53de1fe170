# Bad input of every kind (run configs, flags, tokenizers, model config.json, token ids, score's record naming and
# cutting): exact one-line messages and exit statuses, on the CPU backend with a tiny model (a few seconds).
add_test(NAME inputs COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_inputs.sh $<TARGET_FILE:iopo> ${PROJECT_SOURCE_DIR}
                             ${CMAKE_CURRENT_BINARY_DIR}/inputs)
set_tests_properties(inputs PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 300)
