# compute_dtype: fp32 master weights, forward and backward on bf16 / fp16 copies of the matrices, on both backends
# (exact against rounded weights, the loss within the rounding bound, masters fp32, determinism, LoRA refused).
add_executable(test_compute_dtype ${CMAKE_CURRENT_SOURCE_DIR}/test_compute_dtype.c)
target_link_libraries(test_compute_dtype PRIVATE iopo_core m)
target_include_directories(test_compute_dtype PRIVATE ${PROJECT_SOURCE_DIR}/src)
add_test(NAME compute_dtype COMMAND test_compute_dtype ${CMAKE_CURRENT_BINARY_DIR}/compute_dtype)
set_tests_properties(compute_dtype PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 300)
