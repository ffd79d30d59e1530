// flashmla — merging partial attention results (context-parallel decode, docs/merge.md).
//
// n partial results of the same queries over DISJOINT key sets (e.g. the shards of one request's KV
// cache held by n GPUs) combine exactly into the result over the union of the key sets:
//
//   lse = log sum_i exp(lse_i),   out = sum_i exp(lse_i - lse) * out_i     (natural log)
//
// A part that saw no key (lse_i = +inf, the convention of every flashmla op; -inf is treated the same)
// is "empty": it is skipped, its out_i is never read, so NaN or garbage there cannot leak. A row whose
// parts are all empty gets out = 0 and lse = +inf. A NaN lse_i makes the row's out and lse NaN (a caller
// bug is not hidden). Every other part is multiplied by its weight, so NaN/inf in a non-empty out_i
// propagates even if its weight underflows to 0.
//
// Accumulation is in float32 on the GPU (float64 on the CPU backend); out is rounded once at the end.
// The call never synchronizes the host, never allocates and can be captured in a CUDA graph.
//
//   flashmla::MergeArgs m{.outs = outs, .lses = lses, .out = out, .lse = lse, .stream = stream};
//   flashmla::Status st = flashmla::merge_partial_attention(m);
#pragma once

#include <cstdint>

#include "flashmla/status.h"
#include "flashmla/types.h"

namespace flashmla {

// Limits of merge_partial_attention (checked by can_implement).
constexpr int32_t kMergeMaxParts = 64;     // n
constexpr int32_t kMergeMaxHeadDim = 1024; // dv

struct MergeArgs {
  TensorView outs;  // [n, b, s_q, h_q, dv] bf16|fp16|fp32; any strides, last dim contiguous
  TensorView lses;  // fp32 [n, b, h_q, s_q]; any non-negative strides (+inf or -inf = empty part)
  TensorView out;   // [b, s_q, h_q, dv] same dtype as outs, or fp32; last dim contiguous; written
  TensorView lse;   // fp32 [b, h_q, s_q]; any non-negative, non-overlapping strides; written
  Stream stream = nullptr;  // CUDA stream for device tensors (ignored on the CPU)
};

// Checks every argument (n in [1, 64], dv in [1, 1024], shapes, dtypes, devices, strides, pointers, no
// output overlapping an input or the other output) without touching any memory.
Status can_implement(const MergeArgs& args) noexcept;

// Merges the parts: on CUDA tensors one kernel on args.stream (sm_90 GPUs), on CPU tensors the CPU
// backend. On an invalid argument nothing is written.
Status merge_partial_attention(const MergeArgs& args) noexcept;

}  // namespace flashmla
