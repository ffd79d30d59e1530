// Body of the fp8-q QGMMA kernel's launcher (instantiations/fp8q.cu: one kernel variant per translation
// unit keeps compile time per file small on a 2-core CI machine).
#pragma once

#include <atomic>

#include "kernels/sm90/decode_dense_fp8q/kernel.cuh"
#include "kernels/sm90/decode_dense_fp8q/launch.h"

namespace flashmla::sm90::dense_fp8q {

inline cudaError_t run_split_kernel_impl(const CUtensorMap& tmap_q, const CUtensorMap& tmap_k, const DenseFp8DecodeParams& p,
                                  dim3 grid, cudaStream_t stream, int device) {
  static std::atomic<uint64_t> configured{0};  // bit d: smem attribute set on device d
  const uint64_t bit = device < 64 ? (1ull << device) : 0;
  if (!bit || !(configured.load(std::memory_order_acquire) & bit)) {
    cudaError_t err = cudaFuncSetAttribute(dense_fp8q_decode_kernel,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes);
    if (err != cudaSuccess) return err;
    configured.fetch_or(bit, std::memory_order_acq_rel);
  }
  dense_fp8q_decode_kernel<<<grid, kThreads, kSmemBytes, stream>>>(tmap_q, tmap_k, p);
  return cudaGetLastError();
}

}  // namespace flashmla::sm90::dense_fp8q
