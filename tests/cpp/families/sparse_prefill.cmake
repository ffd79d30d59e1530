# Sparse prefill tests: the CPU oracle against a naive formula + validation (label cpu), and the sm90
# kernel against the CPU oracle (label gpu; skipped without a Hopper GPU).
target_sources(flashmla_testing PRIVATE ${PROJECT_SOURCE_DIR}/testing/sparse_prefill_cases.cpp)

add_executable(flashmla_sparse_prefill_tests ${CMAKE_CURRENT_SOURCE_DIR}/test_sparse_prefill.cpp)
target_link_libraries(flashmla_sparse_prefill_tests PRIVATE flashmla_testing GTest::gtest_main)
gtest_discover_tests(flashmla_sparse_prefill_tests PROPERTIES LABELS cpu DISCOVERY_TIMEOUT 60)

if(FLASHMLA_WITH_CUDA)
  add_executable(flashmla_sparse_prefill_gpu_tests ${CMAKE_CURRENT_SOURCE_DIR}/test_gpu_sparse_prefill.cpp)
  target_link_libraries(flashmla_sparse_prefill_gpu_tests PRIVATE flashmla_testing GTest::gtest_main
                        CUDA::cudart_static)
  gtest_discover_tests(flashmla_sparse_prefill_gpu_tests PROPERTIES LABELS gpu SKIP_REGULAR_EXPRESSION "\\[  SKIPPED"
    DISCOVERY_TIMEOUT 60)
endif()
