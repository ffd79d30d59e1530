// The fp8-q QGMMA dense decode split kernel (kernel.cuh).
#include "kernels/sm90/decode_dense_fp8q/instantiate.cuh"

namespace flashmla::sm90::dense_fp8q {
cudaError_t run_split_kernel(const CUtensorMap& tmap_q, const CUtensorMap& tmap_k, const DenseFp8DecodeParams& p,
                             dim3 grid, cudaStream_t stream, int device) {
  return run_split_kernel_impl(tmap_q, tmap_k, p, grid, stream, device);
}
}  // namespace flashmla::sm90::dense_fp8q
