# `iopo data synth`: every record of a small generated set checked again with the IFEval checkers, the pool shared
# by the SFT / DPO / IOPO / DPO4 files, held-out ids kept out of training, byte-identical runs for one seed, bad
# options (test_synth, CPU only, a few seconds); the CLI, and `iopo train` reading the sft, dpo, dpo4 and iopo files
# for two steps each on a tiny model (test_synth.sh).
add_executable(test_synth ${CMAKE_CURRENT_SOURCE_DIR}/test_synth.c)
target_link_libraries(test_synth PRIVATE iopo_core)
add_test(NAME synth COMMAND test_synth ${CMAKE_CURRENT_BINARY_DIR}/synth)
set_tests_properties(synth PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 120)
add_test(NAME synth_cli COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_synth.sh $<TARGET_FILE:iopo> ${PROJECT_SOURCE_DIR}
                                ${CMAKE_CURRENT_BINARY_DIR}/synth_cli)
set_tests_properties(synth_cli PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 300)
