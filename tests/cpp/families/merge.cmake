# merge family tests (included by tests/cpp/CMakeLists.txt): the merge op and the context-parallel
# decode simulation, on the CPU (label cpu) and on an sm_90 GPU (label gpu, skipped elsewhere).
target_sources(flashmla_testing PRIVATE
  ${PROJECT_SOURCE_DIR}/testing/merge_cases.cpp
  ${PROJECT_SOURCE_DIR}/testing/cp_shards.cpp
)

add_executable(flashmla_merge_tests test_merge.cpp test_cp_decode.cpp)
target_link_libraries(flashmla_merge_tests PRIVATE flashmla_testing GTest::gtest_main)
gtest_discover_tests(flashmla_merge_tests PROPERTIES LABELS cpu DISCOVERY_TIMEOUT 60)

if(FLASHMLA_WITH_CUDA)
  add_executable(flashmla_merge_gpu_tests test_gpu_merge.cpp)
  target_link_libraries(flashmla_merge_gpu_tests PRIVATE flashmla_testing GTest::gtest_main CUDA::cudart_static)
  gtest_discover_tests(flashmla_merge_gpu_tests PROPERTIES LABELS gpu SKIP_REGULAR_EXPRESSION "\\[  SKIPPED"
    DISCOVERY_TIMEOUT 60)
endif()
