// bf16-q instantiation of the FP8-cache dense decode split kernel.
#include "kernels/sm90/decode_dense_fp8/instantiate.cuh"

namespace flashmla::sm90::dense_fp8 {
template <>
cudaError_t run_split_kernel<false>(const CUtensorMap& tmap_q, const CUtensorMap& tmap_k, const DenseFp8DecodeParams& p,
                                    dim3 grid, cudaStream_t stream, int device) {
  return run_split_kernel_impl<false>(tmap_q, tmap_k, p, grid, stream, device);
}
}  // namespace flashmla::sm90::dense_fp8
