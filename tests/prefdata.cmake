# Preference and chat data: the sample files of assets/data with each objective, exact ids of templated records,
# truncation, bad-record messages and skip mode (CPU only, well under a second).
add_executable(test_prefdata ${CMAKE_CURRENT_SOURCE_DIR}/test_prefdata.c)
target_link_libraries(test_prefdata PRIVATE iopo_core)
add_test(NAME prefdata COMMAND test_prefdata ${PROJECT_SOURCE_DIR})
set_tests_properties(prefdata PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 120)
