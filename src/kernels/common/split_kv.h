// The shared split-KV layer: every decode variant that splits a request's keys across SMs writes the
// same outputs — whole requests straight to out/lse, pieces of split requests as fp32 partial results in
// the workspace — and the same combine kernel merges the pieces. One struct describes those outputs for
// both the split kernel (embedded in its params) and the combine (its params).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common/decode_problem.h"
#include "flashmla/status.h"

namespace flashmla::kernels {

struct SplitKvOutputs {
  int32_t batch, s_q, h_q;
  const int32_t* num_splits;   // [b + 1] exclusive prefix sum of splits per request
  float* partial_o;            // [slots, s_q, h_q, 512] split chunks, normalised by their own sum
  float* partial_lse;          // [slots, s_q, h_q] natural log, -inf = the split saw no key
  int32_t* status;             // workspace word: 1 = invalid cache_seqlens, nothing was written
  void* out;                   // [b, s_q, h_q, 512] bf16|fp16
  int64_t stride_o_b, stride_o_s, stride_o_h;
  float* lse;                  // [b, h_q, s_q]
  int64_t stride_lse_b, stride_lse_h, stride_lse_s;
  // Optional (the sparse decode's hook; the dense decode leaves it null): float32 [h_q]; merged rows
  // that saw a key get out *= 1 / (1 + exp(sink[h] - lse)), lse itself unchanged.
  const float* attn_sink = nullptr;
  int64_t stride_attn_sink_h = 0;
};
using CombineParams = SplitKvOutputs;

// Workspace bytes of a split-KV decode (src/common/workspace.h layout).
size_t split_kv_workspace_bytes(const DecodeShape& s);

// The outputs of a validated decode, the workspace carved into partial results and the status word.
SplitKvOutputs make_split_kv_outputs(const DecodeArgs& args, const DecodeShape& s);

// Enqueue it right after the split kernel: it is a programmatic dependent launch (pdl.cuh) of whatever
// kernel precedes it on `stream`, and waits for that grid on the device before reading anything.
// `device` (the stream's): its SM count scales the launch shape (combine.cu), nothing else.
cudaError_t launch_combine(const CombineParams& p, bool fp16, int device, cudaStream_t stream);

}  // namespace flashmla::kernels
