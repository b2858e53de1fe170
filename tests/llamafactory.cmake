# LLaMA-Factory YAML run configs and dataset_info.json: the example config's effective configuration, every mapped
# key, defaults, ignored / unknown / refused keys and bad types with file:line, YAML errors, dataset lookups, and
# short CPU runs through renamed columns that must equal the canonical files' (a tiny model; well under a minute).
add_test(NAME llamafactory COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_llamafactory.sh $<TARGET_FILE:iopo>
                                   ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/llamafactory)
set_tests_properties(llamafactory PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 300)
