// sm90 sparse decode, MODEL1 cache (d_qk 512, 584 B/token, per-page layout).
#include "kernels/sm90/sparse_decode/instantiate.cuh"

namespace flashmla::sm90::sparse_decode {
cudaError_t launch_model1(const SparseDecodeParams& params, unsigned grid, cudaStream_t stream) {
  return launch_format<kvfmt::Model1>(params, grid, stream);
}
int smem_bytes_model1() { return Config<kvfmt::Model1>::kSmemBytes; }
}  // namespace flashmla::sm90::sparse_decode
