# Sparse FP8 decode family tests: CPU (codecs, quantizer, oracle vs naive, validation) and GPU (kernel vs
# the CPU oracle; skipped without an sm_90 GPU).
target_sources(flashmla_testing PRIVATE ${PROJECT_SOURCE_DIR}/testing/sparse_decode_cases.cpp)

add_executable(flashmla_sparse_decode_tests ${CMAKE_CURRENT_SOURCE_DIR}/test_sparse_decode.cpp)
target_include_directories(flashmla_sparse_decode_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(flashmla_sparse_decode_tests PRIVATE flashmla_testing GTest::gtest_main)
gtest_discover_tests(flashmla_sparse_decode_tests PROPERTIES LABELS cpu DISCOVERY_TIMEOUT 60)

if(FLASHMLA_WITH_CUDA)
  add_executable(flashmla_gpu_sparse_decode_tests ${CMAKE_CURRENT_SOURCE_DIR}/test_gpu_sparse_decode.cpp)
  target_include_directories(flashmla_gpu_sparse_decode_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(flashmla_gpu_sparse_decode_tests PRIVATE flashmla_testing GTest::gtest_main CUDA::cudart_static)
  gtest_discover_tests(flashmla_gpu_sparse_decode_tests PROPERTIES LABELS gpu SKIP_REGULAR_EXPRESSION "\\[  SKIPPED"
    DISCOVERY_TIMEOUT 60)
endif()
