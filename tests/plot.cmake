# `iopo plot` on hand-written metrics.jsonl files: panels, lines, eval markers, legend, determinism, errors.
add_test(NAME plot COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_plot.sh $<TARGET_FILE:iopo> ${CMAKE_CURRENT_BINARY_DIR}/plot)
set_tests_properties(plot PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 120)
