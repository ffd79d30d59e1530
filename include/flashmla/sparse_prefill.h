// flashmla — sparse top-k attention prefill (DeepSeek's `flash_mla_sparse_fwd`, docs/sparse_prefill.md).
//
// Every query token i attends, with all of its h_q heads, to the topk key rows indices[i, 0, :] of one
// shared bf16 key/value tensor kv (MQA: h_kv = 1). The value is the first d_v = 512 channels of a key
// row. An index position p of row i is valid iff
//     0 <= indices[i, 0, p] < s_kv   and   p < topk_length[i] (when topk_length is given);
// invalid positions are masked and their rows never read. Duplicate indices count once per position.
//
//   out[i, h, :]      = sum_p softmax_p(sm_scale * q[i, h] . kv[idx_p]) * kv[idx_p, :512]
//                       * 1 / (1 + exp(attn_sink[h] - lse[i, h]))      (sink factor only with attn_sink)
//   max_logits[i, h]  = max_p sm_scale * q[i, h] . kv[idx_p]           (-inf when no position is valid)
//   lse[i, h]         = log sum_p exp(sm_scale * q[i, h] . kv[idx_p])  (natural log, +inf when none)
// A row with no valid position gets out = 0. max_logits and lse never include the sink.
//
// Limits: d_qk in {512, 576}, d_v = 512, h_q in [1, 128], topk >= 1, any s_q (millions are fine).
// Device tensors run the sm90a kernel (one CTA per query token and 64-head group), host tensors the
// multithreaded CPU reference (fp64). No workspace, no host synchronization, graph-capturable.
#pragma once

#include <cstdint>

#include "flashmla/mla_dims.h"
#include "flashmla/status.h"
#include "flashmla/types.h"

namespace flashmla {

struct SparsePrefillArgs {
  TensorView q;            // [s_q, h_q, d_qk] bf16, d_qk in {512, 576}; last dim contiguous
  TensorView kv;           // [s_kv, 1, d_qk] bf16; last dim contiguous, row stride free (a flattened
                           // paged cache); CUDA: row stride a multiple of 8 elements, base 16 B aligned
  TensorView indices;      // int32 [s_q, 1, topk]; any value (out-of-range entries are masked)
  TensorView topk_length;  // optional int32 [s_q]: only positions p < topk_length[i] count
  TensorView attn_sink;    // optional float32 [h_q]; -inf = no effect, +inf = out 0
  float sm_scale = 0.0f;   // required: a normal float in (0, 1e4]
  int32_t d_v = kHeadDimV; // must be 512

  TensorView out;          // [s_q, h_q, 512] bf16, written
  TensorView max_logits;   // float32 [s_q, h_q], written
  TensorView lse;          // float32 [s_q, h_q], written (natural log)
  Stream stream = nullptr; // CUDA stream for device tensors

  // Debug mode: read indices / topk_length on the host (a device-to-host copy that synchronizes the
  // stream for CUDA tensors) and fail with kInvalidArgument naming the first index (at a position
  // p < topk_length[i]) that is neither -1 nor a row of kv, or a topk_length outside [0, topk]. Off in
  // the hot path: such entries are then masked like -1 (lengths clamped to [0, topk]).
  bool debug_checks = false;
};

// Checks every argument of sparse_prefill() and that a variant of this build can run it, without
// launching anything or touching any tensor's memory (debug_checks' value checks excepted: they run
// in sparse_prefill() only).
Status can_implement(const SparsePrefillArgs& args) noexcept;

// Runs the sparse prefill on args.stream (device tensors) or on the CPU (host tensors). On an invalid
// argument nothing is written.
Status sparse_prefill(const SparsePrefillArgs& args) noexcept;

}  // namespace flashmla
