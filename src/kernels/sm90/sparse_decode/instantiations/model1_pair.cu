// sm90 sparse decode, MODEL1 cache, 2-CTA pairs (h_q > 64: kernel.cuh, producer.cuh produce_pair).
#include "kernels/sm90/sparse_decode/instantiate.cuh"

namespace flashmla::sm90::sparse_decode {
cudaError_t launch_model1_pair(const SparseDecodeParams& params, unsigned grid, cudaStream_t stream) {
  return launch_format<kvfmt::Model1, true>(params, grid, stream);
}
}  // namespace flashmla::sm90::sparse_decode
