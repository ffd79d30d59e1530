# Dense decode over an FP8 (e4m3) cache, per-tensor scales (docs/spec.md §8, docs/dense_fp8.md): the API
# and CPU reference live with dense decode (src/api/decode.cpp, src/cpu/); this adds the sm90 kernels.
# Included by the top-level CMakeLists.txt inside the flashmla target's scope.
if(FLASHMLA_WITH_CUDA)
  # One kernel variant per translation unit.
  target_sources(flashmla PRIVATE
    src/kernels/sm90/decode_dense_fp8/launch.cu
    src/kernels/sm90/decode_dense_fp8/convert_check.cu
    src/kernels/sm90/decode_dense_fp8/instantiations/bf16q.cu
    src/kernels/sm90/decode_dense_fp8q/instantiations/fp8q.cu
  )
endif()
