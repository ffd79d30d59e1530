# Sparse top-k decode over FP8 V32 / MODEL1 caches (include/flashmla/sparse_decode.h, docs/sparse_decode.md)
# and the cache quantizer (include/flashmla/quantize.h): API, CPU reference, sm90a kernels (one TU per format).
# Included by the top-level CMakeLists.txt inside the flashmla target's scope.
target_sources(flashmla PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/src/api/sparse_decode.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/api/quantize.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/cpu/sparse_decode.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/src/cpu/quantize.cpp
)
if(FLASHMLA_WITH_CUDA)
  target_sources(flashmla PRIVATE
    ${CMAKE_CURRENT_SOURCE_DIR}/src/kernels/sm90/sparse_decode/launch.cu
    ${CMAKE_CURRENT_SOURCE_DIR}/src/kernels/sm90/sparse_decode/instantiations/v32.cu
    ${CMAKE_CURRENT_SOURCE_DIR}/src/kernels/sm90/sparse_decode/instantiations/model1.cu
  )
endif()
