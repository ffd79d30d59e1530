// sm90 sparse decode, V32 cache, 2-CTA pairs (h_q > 64: kernel.cuh, producer.cuh produce_pair).
#include "kernels/sm90/sparse_decode/instantiate.cuh"

namespace flashmla::sm90::sparse_decode {
cudaError_t launch_v32_pair(const SparseDecodeParams& params, unsigned grid, cudaStream_t stream) {
  return launch_format<kvfmt::V32, true>(params, grid, stream);
}
}  // namespace flashmla::sm90::sparse_decode
