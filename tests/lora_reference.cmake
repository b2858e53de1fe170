# iopo's LoRA adapter gradients against the independent PyTorch LoRA in tools/reference/lora.py (Debian
# python3-torch, no peft) on both backends: llama and qwen2 with GQA, gpt2's fused c_attn and Conv1D layers, every
# linear layer and subsets, rsLoRA, an adapter iopo train wrote.
add_test(NAME lora_reference COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_lora_reference.sh $<TARGET_FILE:iopo>
                                     ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/lora_reference)
set_tests_properties(lora_reference PROPERTIES ENVIRONMENT "${IOPO_TEST_ENV}" TIMEOUT 300)
