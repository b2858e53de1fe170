# libFuzzer harnesses of the parsers a user's file reaches (tests/fuzz/*.c), built only with -DIOPO_FUZZ=ON (clang).
# Each ctest (label "fuzz") replays the harness's regression corpus, then fuzzes for IOPO_FUZZ_SECONDS from seeds made
# out of assets/ by tests/fuzz/make_seeds.py; any finding fails it and names the crash file.
if(NOT IOPO_FUZZ)
  return()
endif()

set(IOPO_FUZZ_SECONDS 20 CACHE STRING "Seconds each fuzz ctest fuzzes after replaying its regressions")
find_package(Python3 REQUIRED COMPONENTS Interpreter)

file(GLOB IOPO_FUZZ_HARNESSES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
list(FILTER IOPO_FUZZ_HARNESSES EXCLUDE REGEX "/fuzz_util\\.c$")
set(IOPO_FUZZ_SEEDS ${CMAKE_BINARY_DIR}/fuzz-seeds)
foreach(SRC ${IOPO_FUZZ_HARNESSES})
  get_filename_component(NAME ${SRC} NAME_WE)
  add_executable(${NAME} ${SRC} ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_util.c)
  target_include_directories(${NAME} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests/fuzz)
  target_compile_definitions(${NAME} PRIVATE IOPO_ASSETS="${PROJECT_SOURCE_DIR}/assets")
  target_link_options(${NAME} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${NAME} PRIVATE iopo_core)
  string(REGEX REPLACE "^fuzz_" "" SHORT ${NAME})
  add_test(NAME fuzz.${SHORT}
           COMMAND ${PROJECT_SOURCE_DIR}/tests/fuzz/run_fuzz.sh $<TARGET_FILE:${NAME}>
                   ${PROJECT_SOURCE_DIR}/tests/fuzz/regressions/${NAME} ${IOPO_FUZZ_SEEDS}/${NAME} ${IOPO_FUZZ_SECONDS})
  set_tests_properties(fuzz.${SHORT} PROPERTIES LABELS fuzz TIMEOUT 600 FIXTURES_REQUIRED fuzz_seeds)
endforeach()

# Seeds are made from the tree at test time (assets/ may change after configuring; nothing large is copied into git).
add_test(NAME fuzz.seeds COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/fuzz/make_seeds.py
                                 ${PROJECT_SOURCE_DIR} ${IOPO_FUZZ_SEEDS})
set_tests_properties(fuzz.seeds PROPERTIES LABELS fuzz FIXTURES_SETUP fuzz_seeds TIMEOUT 120)
