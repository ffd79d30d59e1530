# merge_partial_attention (include/flashmla/merge.h, docs/merge.md): API, CPU reference, GPU kernel.
# Included by the top-level CMakeLists.txt inside the flashmla target's scope.
target_sources(flashmla PRIVATE
  src/api/merge.cpp
  src/cpu/merge.cpp
)
if(FLASHMLA_WITH_CUDA)
  # One input format per translation unit (each holds 4 small kernels: out same/fp32 x vector/scalar).
  target_sources(flashmla PRIVATE
    src/kernels/common/merge/launch.cu
    src/kernels/common/merge/instantiations/bf16.cu
    src/kernels/common/merge/instantiations/fp16.cu
    src/kernels/common/merge/instantiations/fp32.cu
  )
endif()
