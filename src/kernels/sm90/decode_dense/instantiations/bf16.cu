// bf16 instantiation of the dense decode split kernel.
#include "kernels/sm90/decode_dense/instantiate.cuh"

namespace flashmla::sm90::dense {
template <>
cudaError_t run_split_kernel<false>(const CUtensorMap& tmap_q, const CUtensorMap& tmap_k, const DenseDecodeParams& p,
                                    dim3 grid, cudaStream_t stream, int device) {
  return run_split_kernel_impl<false>(tmap_q, tmap_k, p, grid, stream, device);
}
}  // namespace flashmla::sm90::dense
