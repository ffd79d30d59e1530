# Sparse top-k prefill (flash_mla_sparse_fwd): API, CPU reference, sm90a kernels (one TU per d_qk).
# Included by the top-level CMakeLists.txt inside the flashmla target's scope.
target_sources(flashmla PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/src/api/sparse_prefill.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/cpu/sparse_prefill.cpp
)
if(FLASHMLA_WITH_CUDA)
  target_sources(flashmla PRIVATE
    ${CMAKE_CURRENT_SOURCE_DIR}/src/kernels/sm90/sparse_prefill/launch.cu
    ${CMAKE_CURRENT_SOURCE_DIR}/src/kernels/sm90/sparse_prefill/instantiations/d512.cu
    ${CMAKE_CURRENT_SOURCE_DIR}/src/kernels/sm90/sparse_prefill/instantiations/d576.cu
  )
endif()
