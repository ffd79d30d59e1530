// Host-side launcher of the bf16-q FP8-cache split kernel (the converter kernel), in its own translation
// unit (instantiations/bf16q.cu). An e4m3 q runs on decode_dense_fp8q/'s kernel.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include "kernels/sm90/decode_dense_fp8/params.h"

namespace flashmla::sm90::dense_fp8 {

// Sets the kernel's shared-memory limit once per device, then launches grid x 384 threads.
cudaError_t run_split_kernel(const CUtensorMap& tmap_q, const CUtensorMap& tmap_k, const DenseFp8DecodeParams& p,
                             dim3 grid, cudaStream_t stream, int device);

}  // namespace flashmla::sm90::dense_fp8
