# The run directory (lock, refusing another run, --overwrite, SIGINT/SIGTERM, kills during saves, resume, config
# changes, pruning, final/, run directories as model arguments) on the reference backend, and the signal, kill and
# resume cases on the default device.
add_test(NAME rundir_cpu COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_rundir.sh $<TARGET_FILE:iopo> ${PROJECT_SOURCE_DIR}
                                 ${CMAKE_CURRENT_BINARY_DIR}/rundir_cpu cpu)
add_test(NAME rundir_vulkan COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_rundir.sh $<TARGET_FILE:iopo> ${PROJECT_SOURCE_DIR}
                                    ${CMAKE_CURRENT_BINARY_DIR}/rundir_vulkan "" quick)
set_tests_properties(rundir_cpu rundir_vulkan PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 1200)
