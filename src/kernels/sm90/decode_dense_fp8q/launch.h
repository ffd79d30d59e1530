// Launcher of the dense FP8-cache split kernel for an e4m3 q on the FP8 tensor cores (QGMMA), sm_90a, in
// its own translation unit (instantiations/fp8q.cu). The registry variant sm90/decode_dense_fp8/fp8q
// (decode_dense_fp8/launch.cu) builds its tensor maps and parameters and calls it.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include "kernels/sm90/decode_dense_fp8/params.h"

namespace flashmla::sm90::dense_fp8q {

// Sets the kernel's shared-memory limit once per device, then launches grid x 384 threads.
cudaError_t run_split_kernel(const CUtensorMap& tmap_q, const CUtensorMap& tmap_k,
                             const dense_fp8::DenseFp8DecodeParams& p, dim3 grid, cudaStream_t stream, int device);

}  // namespace flashmla::sm90::dense_fp8q
