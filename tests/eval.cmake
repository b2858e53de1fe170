# IFEval's checkers (src/eval/): hand-written responses for every instruction type, strict and loose, the kwargs
# errors, and the text helpers they rest on (sentences, words, capitals, languages, JSON). CPU only, milliseconds.
add_executable(test_ifeval ${CMAKE_CURRENT_SOURCE_DIR}/test_ifeval.c)
target_link_libraries(test_ifeval PRIVATE iopo_core)
target_include_directories(test_ifeval PRIVATE ${PROJECT_SOURCE_DIR}/src)
add_test(NAME ifeval COMMAND test_ifeval)
set_tests_properties(ifeval PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 60)
# The character-exact checks against Python's own re and json on random responses (Debian's python3, standard library).
add_test(NAME ifeval.regex COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ifeval_regex_check.py
                                   $<TARGET_FILE:test_ifeval> 20000 1)
set_tests_properties(ifeval.regex PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 120)
