# DPO / IOPO training end to end: learning on held-out pairs, reference cache, resume, memory, score.
add_test(NAME pref_train COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_pref_train.sh $<TARGET_FILE:iopo>
                                 ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/pref_train)
set_tests_properties(pref_train PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 900)
