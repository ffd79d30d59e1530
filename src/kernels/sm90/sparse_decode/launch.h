// The two kernel instantiations (instantiations/*.cu), launched by launch.cu.
#pragma once

#include <cuda_runtime.h>

#include "kernels/sm90/sparse_decode/params.h"

namespace flashmla::sm90::sparse_decode {

// Sets the kernel's shared-memory attribute and launches `grid` CTAs on `stream`: lone CTAs
// (params.num_head_blocks == 1) or 2-CTA clusters (_pair: num_head_blocks == 2).
cudaError_t launch_v32(const SparseDecodeParams& params, unsigned grid, cudaStream_t stream);
cudaError_t launch_model1(const SparseDecodeParams& params, unsigned grid, cudaStream_t stream);
cudaError_t launch_v32_pair(const SparseDecodeParams& params, unsigned grid, cudaStream_t stream);
cudaError_t launch_model1_pair(const SparseDecodeParams& params, unsigned grid, cudaStream_t stream);
int smem_bytes_v32();
int smem_bytes_model1();

}  // namespace flashmla::sm90::sparse_decode
