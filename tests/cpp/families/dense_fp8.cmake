# Dense FP8-cache decode GPU tests (the CPU ones are test_dense_fp8.cpp in flashmla_tests): the sm90
# kernel vs the CPU fp8 reference on the adversarial matrix, with the error vs the unquantized bf16
# result reported per case (label gpu; skipped without an sm_90 GPU).
if(FLASHMLA_WITH_CUDA)
  add_executable(flashmla_gpu_dense_fp8_tests ${CMAKE_CURRENT_SOURCE_DIR}/test_gpu_dense_fp8.cpp)
  target_include_directories(flashmla_gpu_dense_fp8_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(flashmla_gpu_dense_fp8_tests PRIVATE flashmla_testing GTest::gtest_main CUDA::cudart_static)
  gtest_discover_tests(flashmla_gpu_dense_fp8_tests PROPERTIES LABELS gpu SKIP_REGULAR_EXPRESSION "\\[  SKIPPED"
    DISCOVERY_TIMEOUT 60)
endif()
