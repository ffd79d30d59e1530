// The bf16-q FP8-cache dense decode split kernel (the e4m3 page converted to bf16 exactly; bf16 WGMMA).
#include "kernels/sm90/decode_dense_fp8/instantiate.cuh"

namespace flashmla::sm90::dense_fp8 {
cudaError_t run_split_kernel(const CUtensorMap& tmap_q, const CUtensorMap& tmap_k, const DenseFp8DecodeParams& p,
                             dim3 grid, cudaStream_t stream, int device) {
  return run_split_kernel_impl(tmap_q, tmap_k, p, grid, stream, device);
}
}  // namespace flashmla::sm90::dense_fp8
