// Body shared by the per-dtype instantiation files (one kernel variant per translation unit keeps
// compile time per file small on a 2-core CI machine).
#pragma once

#include <atomic>

#include "kernels/cuda_util.h"
#include "kernels/sm90/decode_dense/kernel.cuh"
#include "kernels/sm90/decode_dense/launch.h"

namespace flashmla::sm90::dense {

template <bool kFp16>
cudaError_t run_split_kernel_impl(const CUtensorMap& tmap_q, const CUtensorMap& tmap_k, const DenseDecodeParams& p,
                                  dim3 grid, cudaStream_t stream, int device) {
  static std::atomic<uint64_t> configured{0};
  if (cudaError_t err = gpu::set_smem_limit_once(dense_decode_kernel<kFp16>, kSmemBytes, device, configured);
      err != cudaSuccess)
    return err;
  dense_decode_kernel<kFp16><<<grid, kThreads, kSmemBytes, stream>>>(tmap_q, tmap_k, p);
  return cudaGetLastError();
}

}  // namespace flashmla::sm90::dense
