// Kernel launchers of the merge family, one explicit instantiation per input format
// (instantiations/<fmt>.cu): each covers out = the same format or fp32, vector and scalar paths.
#pragma once

#include <cuda_runtime.h>

#include "kernels/common/merge/params.h"

namespace flashmla::kernels::merge {

// Enqueues merge_kernel<kIn, out_fmt, vector> on `stream`; `vector` requires the 16-byte alignment
// launch.cu checks. Returns the launch error (and clears it).
template <Fmt kIn>
cudaError_t launch(const MergeParams& p, Fmt out_fmt, bool vector, cudaStream_t stream);

}  // namespace flashmla::kernels::merge
