// The two kernel instantiations (instantiations/*.cu), launched by launch.cu.
#pragma once

#include <cuda_runtime.h>

#include "kernels/sm90/sparse_decode/params.h"

namespace flashmla::sm90::sparse_decode {

// Sets the kernel's shared-memory attribute (once) and launches `grid` CTAs on `stream`.
cudaError_t launch_v32(const SparseDecodeParams& params, unsigned grid, cudaStream_t stream);
cudaError_t launch_model1(const SparseDecodeParams& params, unsigned grid, cudaStream_t stream);
int smem_bytes_v32();
int smem_bytes_model1();

}  // namespace flashmla::sm90::sparse_decode
