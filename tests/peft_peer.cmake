# iopo's LoRA against PyPI's peft (pinned with transformers and torch in tools/reference/peer-requirements.txt, in the
# venv tools/peer-venv.sh makes; the test calls it). Label peft_peer: `ctest -L peft_peer` runs both alone.
add_test(NAME peft_peer_cpu COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_peft_peer.sh $<TARGET_FILE:iopo>
                                    ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/peft_peer_cpu cpu)
add_test(NAME peft_peer_vulkan COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_peft_peer.sh $<TARGET_FILE:iopo>
                                       ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/peft_peer_vulkan)
set_tests_properties(peft_peer_cpu peft_peer_vulkan PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" LABELS peft_peer
                     TIMEOUT 1200)
