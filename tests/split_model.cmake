# Tiny GPT-2 and Qwen3 models train and generate on the device with the binding limit lowered below their activations,
# so that every op of the decoder splits along rows, matching the same runs at the device's own limit.
add_test(NAME split_model COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_split_model.sh $<TARGET_FILE:iopo>
                                  ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/split_model)
set_tests_properties(split_model PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 600)
