// Body of one instantiation TU: the kernel for one format plus its launcher.
#pragma once

#include "kernels/sm90/sparse_decode/kernel.cuh"
#include "kernels/sm90/sparse_decode/launch.h"

namespace flashmla::sm90::sparse_decode {

template <class Fmt>
cudaError_t launch_format(const SparseDecodeParams& params, unsigned grid, cudaStream_t stream) {
  constexpr int kSmem = Config<Fmt>::kSmemBytes;
  // The attribute is per device; set it on every call from a thread-safe static per device would need
  // a device table: cudaFuncSetAttribute is cheap (no sync) and capturable, so it is set each call.
  cudaError_t err = cudaFuncSetAttribute(sparse_decode_kernel<Fmt>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
  if (err != cudaSuccess) return err;
  sparse_decode_kernel<Fmt><<<grid, kThreads, kSmem, stream>>>(params);
  return cudaGetLastError();
}

}  // namespace flashmla::sm90::sparse_decode
