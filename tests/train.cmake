# End-to-end training (resume, errors, non-finite stop, score) on the reference backend and on the default device.
add_test(NAME train_cpu COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_train.sh $<TARGET_FILE:iopo> ${PROJECT_SOURCE_DIR}
                                ${CMAKE_CURRENT_BINARY_DIR}/train_cpu cpu)
add_test(NAME train_vulkan COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_train.sh $<TARGET_FILE:iopo> ${PROJECT_SOURCE_DIR}
                                   ${CMAKE_CURRENT_BINARY_DIR}/train_vulkan)
set_tests_properties(train_cpu train_vulkan PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 900)
