// fp16 instantiation of the dense decode split kernel (dropped with -DFLASHMLA_ENABLE_FP16=OFF).
#include "kernels/sm90/decode_dense/instantiate.cuh"

namespace flashmla::sm90::dense {
template <>
cudaError_t run_split_kernel<true>(const CUtensorMap& tmap_q, const CUtensorMap& tmap_k, const DenseDecodeParams& p,
                                   dim3 grid, cudaStream_t stream, int device) {
  return run_split_kernel_impl<true>(tmap_q, tmap_k, p, grid, stream, device);
}
}  // namespace flashmla::sm90::dense
