# GPT-2 small (124M) trains two steps on the device with its wte split over storage bindings, matching the CPU.
# Nearly all its time is lavapipe running the GEMMs (measured: 401 s for the whole test on this project's shared
# 2-core machine at a load average of about 9; the device run 5.5 minutes, the CPU run under a minute). A sanitizer
# build neither shortens that nor checks it better (the shaders are not instrumented), so the test runs in the
# optimised build only; tools/test.sh runs both builds.
if(NOT IOPO_SANITIZE)
  add_test(NAME gpt2_small COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_gpt2_small.sh $<TARGET_FILE:iopo>
                                   ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/gpt2_small)
  set_tests_properties(gpt2_small PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 1800)
endif()
