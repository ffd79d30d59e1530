// Host-side launcher of the split kernel, one explicit instantiation per dtype (instantiations/*.cu).
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include "kernels/sm90/decode_dense/params.h"

namespace flashmla::sm90::dense {

// Sets the kernel's shared-memory limit once per device, then launches grid x 384 threads.
template <bool kFp16>
cudaError_t run_split_kernel(const CUtensorMap& tmap_q, const CUtensorMap& tmap_k, const DenseDecodeParams& p,
                             dim3 grid, cudaStream_t stream, int device);

}  // namespace flashmla::sm90::dense
