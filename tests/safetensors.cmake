# safetensors reader/writer and atomic file IO (tests/test_safetensors.c), and a cross-check against PyTorch.
add_executable(test_safetensors ${CMAKE_CURRENT_LIST_DIR}/test_safetensors.c)
target_link_libraries(test_safetensors PRIVATE iopo_core)
target_include_directories(test_safetensors PRIVATE ${PROJECT_SOURCE_DIR}/src)
add_test(NAME safetensors COMMAND test_safetensors)
set_tests_properties(safetensors PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 120)

# The torch cross-check is its own test so a missing or broken torch shows separately. The system interpreter is
# used on purpose: python3-torch is a Debian package that tools/install-deps.sh installs; without it this test fails.
add_test(NAME safetensors_python
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/safetensors_check.py $<TARGET_FILE:test_safetensors>)
set_tests_properties(safetensors_python PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 300)
