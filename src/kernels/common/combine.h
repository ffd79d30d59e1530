// Combine kernel: merges the fp32 partial results of split requests (SPEC §2). Requests with a single
// split were written directly by the split kernel and are skipped here.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace flashmla::kernels {

struct CombineParams {
  int32_t batch, s_q, h_q;
  const int32_t* num_splits;   // [b + 1]
  const float* partial_o;      // [slots, s_q, h_q, 512]
  const float* partial_lse;    // [slots, s_q, h_q]  natural log, -inf = the split saw no key
  const int32_t* status;       // written by the split kernel: 1 = invalid input, write nothing
  void* out;                   // [b, s_q, h_q, 512] bf16|fp16
  int64_t stride_o_b, stride_o_s, stride_o_h;
  float* lse;                  // [b, h_q, s_q]
  int64_t stride_lse_b, stride_lse_h, stride_lse_s;
};

// Enqueue it right after the split kernel: it is a programmatic dependent launch (pdl.cuh) of whatever
// kernel precedes it on `stream`, and waits for that grid on the device before reading anything.
cudaError_t launch_combine(const CombineParams& p, bool fp16, cudaStream_t stream);

}  // namespace flashmla::kernels
