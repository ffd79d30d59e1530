// Body of the per-format launchers (included by instantiations/<fmt>.cu only).
#pragma once

#include "kernels/common/merge/config.h"
#include "kernels/common/merge/kernel.cuh"
#include "kernels/common/merge/launch.h"

namespace flashmla::kernels::merge {

template <Fmt kIn, Fmt kOut, bool kVector>
cudaError_t launch_one(const MergeParams& p, cudaStream_t stream) {
  const int64_t blocks = (p.num_items + kWarpsPerBlock - 1) / kWarpsPerBlock;
  const unsigned grid = static_cast<unsigned>(blocks < kMaxGridBlocks ? blocks : kMaxGridBlocks);
  merge_kernel<kIn, kOut, kVector><<<grid, kThreads, 0, stream>>>(p);
  const cudaError_t err = cudaGetLastError();  // also clears it: reported through the return value
  return err;
}

template <Fmt kIn>
cudaError_t launch(const MergeParams& p, Fmt out_fmt, bool vector, cudaStream_t stream) {
  if (out_fmt == Fmt::kFP32)
    return vector ? launch_one<kIn, Fmt::kFP32, true>(p, stream) : launch_one<kIn, Fmt::kFP32, false>(p, stream);
  if constexpr (kIn != Fmt::kFP32) {
    if (out_fmt == kIn)
      return vector ? launch_one<kIn, kIn, true>(p, stream) : launch_one<kIn, kIn, false>(p, stream);
  }
  return cudaErrorInvalidValue;  // validation allows out = outs' dtype or fp32 only
}

}  // namespace flashmla::kernels::merge
