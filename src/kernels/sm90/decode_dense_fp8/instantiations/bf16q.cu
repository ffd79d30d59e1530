// The bf16-q FP8-cache dense decode split kernel (the e4m3 page converted to bf16 exactly; bf16 WGMMA), in
// its own translation unit (compile time per file stays small on a 2-core CI machine).
#include <atomic>

#include "kernels/cuda_util.h"
#include "kernels/sm90/decode_dense_fp8/kernel.cuh"
#include "kernels/sm90/decode_dense_fp8/launch.h"

namespace flashmla::sm90::dense_fp8 {
cudaError_t run_split_kernel(const CUtensorMap& tmap_q, const CUtensorMap& tmap_k, const DenseFp8DecodeParams& p,
                             dim3 grid, cudaStream_t stream, int device) {
  static std::atomic<uint64_t> configured{0};
  if (cudaError_t err = gpu::set_smem_limit_once(dense_fp8_decode_kernel, kSmemBytes, device, configured);
      err != cudaSuccess)
    return err;
  dense_fp8_decode_kernel<<<grid, kThreads, kSmemBytes, stream>>>(tmap_q, tmap_k, p);
  return cudaGetLastError();
}
}  // namespace flashmla::sm90::dense_fp8
