// Kernel launchers of the merge family, one explicit instantiation per input format
// (instantiations/<fmt>.cu): each covers out = the same format or fp32, the vector path with 1, 2 or 4
// rows per group (fp32 in: 1 or 2) and the scalar path.
#pragma once

#include <cuda_runtime.h>

#include "kernels/common/merge/params.h"

namespace flashmla::kernels::merge {

// Enqueues merge_kernel<kIn, out_fmt, vector, rows> on `stream` with at most one wave of warps on a
// device of `num_sms` SMs; `vector` requires the 16-byte alignment launch.cu checks, `rows` is
// rows_per_group()'s. Returns the launch error (and clears it).
template <Fmt kIn>
cudaError_t launch(const MergeParams& p, Fmt out_fmt, bool vector, int rows, int num_sms, cudaStream_t stream);

// Rows per warp group for n parts (config.h): enough 16-byte loads per lane and round at small n.
constexpr int rows_per_group(Fmt in, bool vector, int num_parts) {
  if (!vector) return 1;
  if (in == Fmt::kFP32) return num_parts == 1 ? 2 : 1;
  return num_parts <= 2 ? 2 : 1;
}

}  // namespace flashmla::kernels::merge
