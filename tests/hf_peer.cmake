# iopo against the real Hugging Face stack (transformers, tokenizers, torch 2.13 CPU; pinned in
# tools/reference/peer-requirements.txt, installed into a cached venv by tools/peer-venv.sh, which the test calls:
# without PyPI or the CPU torch wheel it fails). Label hf_peer: `ctest -L hf_peer` runs both alone.
add_test(NAME hf_peer_cpu COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_hf_peer.sh $<TARGET_FILE:iopo> ${PROJECT_SOURCE_DIR}
                                  ${CMAKE_CURRENT_BINARY_DIR}/hf_peer_cpu cpu)
add_test(NAME hf_peer_vulkan COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_hf_peer.sh $<TARGET_FILE:iopo>
                                     ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/hf_peer_vulkan)
# The first run makes the venv (minutes); later ones reuse it.
set_tests_properties(hf_peer_cpu hf_peer_vulkan PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" LABELS hf_peer TIMEOUT 1200)
