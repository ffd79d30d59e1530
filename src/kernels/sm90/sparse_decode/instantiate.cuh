// Body of one instantiation TU: the kernel for one format and CTA arrangement plus its launcher.
#pragma once

#include "kernels/sm90/sparse_decode/kernel.cuh"
#include "kernels/sm90/sparse_decode/launch.h"

namespace flashmla::sm90::sparse_decode {

// kPair: 2-CTA clusters along x (params.num_head_blocks == 2, so grid is even and each cluster is the
// two head blocks of one (token, split)).
template <class Fmt, bool kPair>
cudaError_t launch_format(const SparseDecodeParams& params, unsigned grid, cudaStream_t stream) {
  constexpr int kSmem = Config<Fmt>::kSmemBytes;
  // The attribute is per device; set it on every call from a thread-safe static per device would need
  // a device table: cudaFuncSetAttribute is cheap (no sync) and capturable, so it is set each call.
  cudaError_t err =
      cudaFuncSetAttribute(sparse_decode_kernel<Fmt, kPair>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
  if (err != cudaSuccess) return err;
  if constexpr (!kPair) {
    sparse_decode_kernel<Fmt, false><<<grid, kThreads, kSmem, stream>>>(params);
  } else {
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = dim3(grid);
    cfg.blockDim = dim3(kThreads);
    cfg.dynamicSmemBytes = kSmem;
    cfg.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeClusterDimension;
    attr[0].val.clusterDim.x = 2;
    attr[0].val.clusterDim.y = 1;
    attr[0].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    err = cudaLaunchKernelEx(&cfg, sparse_decode_kernel<Fmt, true>, params);
    if (err != cudaSuccess) return err;
  }
  return cudaGetLastError();
}

}  // namespace flashmla::sm90::sparse_decode
