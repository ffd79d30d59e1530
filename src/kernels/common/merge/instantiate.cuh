// Body of the per-format launchers (included by instantiations/<fmt>.cu only).
#pragma once

#include "kernels/common/merge/config.h"
#include "kernels/common/merge/kernel.cuh"
#include "kernels/common/merge/launch.h"

namespace flashmla::kernels::merge {

template <Fmt kIn, Fmt kOut, bool kVector, int kRows>
cudaError_t launch_one(const MergeParams& p, int num_sms, cudaStream_t stream) {
  auto* kernel = &merge_kernel<kIn, kOut, kVector, kRows>;
  // One wave of warps at most; the groups split evenly over them (each warp gets `waves` groups, the
  // last ones possibly one fewer). Residency is kMinBlocksPerSm blocks per SM: every instantiation
  // uses 96-128 registers (config.h), i.e. exactly 2 blocks of 256 threads in the 64 K register file.
  // No occupancy query: it would be a runtime call inside a stream capture on the first use.
  const int64_t groups = (int64_t{p.num_rows} + kRows - 1) / kRows;
  const int64_t capacity = int64_t{num_sms} * kMinBlocksPerSm * kWarpsPerBlock;
  const int64_t waves = (groups + capacity - 1) / capacity;
  const int64_t warps = (groups + waves - 1) / waves;
  const unsigned grid = static_cast<unsigned>((warps + kWarpsPerBlock - 1) / kWarpsPerBlock);
  kernel<<<grid, kThreads, 0, stream>>>(p);
  return cudaGetLastError();  // also clears it: reported through the return value
}

template <Fmt kIn, Fmt kOut>
cudaError_t launch_rows(const MergeParams& p, bool vector, int rows, int num_sms, cudaStream_t stream) {
  if (!vector) return launch_one<kIn, kOut, false, 1>(p, num_sms, stream);
  switch (rows) {
    case 1: return launch_one<kIn, kOut, true, 1>(p, num_sms, stream);
    case 2: return launch_one<kIn, kOut, true, 2>(p, num_sms, stream);
    default: break;
  }
  return cudaErrorInvalidValue;
}

template <Fmt kIn>
cudaError_t launch(const MergeParams& p, Fmt out_fmt, bool vector, int rows, int num_sms, cudaStream_t stream) {
  if (out_fmt == Fmt::kFP32) return launch_rows<kIn, Fmt::kFP32>(p, vector, rows, num_sms, stream);
  if constexpr (kIn != Fmt::kFP32) {
    if (out_fmt == kIn) return launch_rows<kIn, kIn>(p, vector, rows, num_sms, stream);
  }
  return cudaErrorInvalidValue;  // validation allows out = outs' dtype or fp32 only
}

}  // namespace flashmla::kernels::merge
