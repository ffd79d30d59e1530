// sm90 sparse decode, V32 cache (d_qk 576, 656 B/token).
#include "kernels/sm90/sparse_decode/instantiate.cuh"

namespace flashmla::sm90::sparse_decode {
cudaError_t launch_v32(const SparseDecodeParams& params, unsigned grid, cudaStream_t stream) {
  return launch_format<kvfmt::V32>(params, grid, stream);
}
int smem_bytes_v32() { return Config<kvfmt::V32>::kSmemBytes; }
}  // namespace flashmla::sm90::sparse_decode
