// flashmla — sparse top-k ("DSA") decode over an FP8 KV cache, DeepSeek-V3.2 "V32" and "MODEL1" formats
// (docs/spec.md §6, docs/sparse_decode.md).
//
// Per query token (request i, token j of s_q), attention over the cache tokens its indexer picked:
//   indices[i][j][t] = page * page_block_size + row   (the block table is already folded in)
// -1 is "no token"; every other entry outside [0, num_blocks * page_block_size) is masked the same way and
// never read (debug_checks reports it instead). Only the first topk_length[i] entries of a request count
// (clamped to [0, topk]). An optional second pool (extra_k_cache + extra_indices [+ extra_topk_length])
// is attended in the same softmax. The KV format is chosen by q's last dimension: 576 -> V32
// (656 B/token), 512 -> MODEL1 (584 B/token); both layouts are in src/common/kv_format.h.
//
// out = softmax(scale * q k^T) V with V = the first 512 channels of each dequantized token;
// lse = natural-log log-sum-exp of the scaled scores (without the sink). With attn_sink:
// out *= 1 / (1 + exp(sink[h] - lse)). A row that sees no valid token: out = 0, lse = +inf.
//
// The sm90 kernel needs no schedule and no workspace: one CTA per (request, query token, 64-head block),
// each walking all of its top-k list (docs/sparse_decode.md: a fixed, documented choice).
#pragma once

#include <cstddef>
#include <cstdint>

#include "flashmla/status.h"
#include "flashmla/types.h"

namespace flashmla {

struct SparseDecodeArgs {
  TensorView q;                  // [b, s_q, h_q, d_qk] bf16, d_qk 576 (V32) or 512 (MODEL1); last dim contiguous
  TensorView k_cache;            // [num_blocks, page_block_size, 1, bytes_per_token] uint8|int8|float8_e4m3fn:
                                 // 656 (V32) or 584 (MODEL1) bytes per token; stride[1] = bytes_per_token,
                                 // stride[3] = 1, stride[0] (page stride, bytes) >= page_block_size * bytes
  TensorView indices;            // int32 [b, s_q, topk], topk >= 1; any strides
  TensorView topk_length;        // optional int32 [b]: valid prefix of each request's indices
  TensorView attn_sink;          // optional float32 [h_q]
  TensorView extra_k_cache;      // optional, same format as k_cache, its own num_blocks and page size
  TensorView extra_indices;      // int32 [b, s_q, extra_topk]; given iff extra_k_cache is
  TensorView extra_topk_length;  // optional int32 [b] (only with extra_k_cache)
  float softmax_scale = 0.0f;    // 0 selects d_qk^-0.5; else a normal float in (0, 1e4]

  TensorView out;  // [b, s_q, h_q, 512] bf16, written; last dim contiguous
  TensorView lse;  // float32 [b, h_q, s_q], written (any strides, e.g. a transposed [b, s_q, h_q] buffer)

  void* workspace = nullptr;  // unused today (sparse_decode_workspace_size() is 0); kept for a split-K path
  size_t workspace_bytes = 0;
  Stream stream = nullptr;  // CUDA stream for device tensors

  // Debug mode: read indices / topk_length on the host (a device-to-host copy that synchronizes the
  // stream for CUDA tensors) and fail with kInvalidArgument naming the first index that is neither -1
  // nor a token of its cache, or a topk_length outside [0, topk]. Off in the hot path: such entries
  // are then masked like -1.
  bool debug_checks = false;
};

// Checks every argument of sparse_decode() without launching anything or touching any memory
// (debug_checks' value checks excepted).
Status can_implement(const SparseDecodeArgs& args) noexcept;

// Runs it: CUDA tensors on the sm90 kernel on args.stream (no host sync, no allocation, graph-capturable),
// CPU tensors on the multithreaded CPU reference. On an invalid argument nothing is written.
Status sparse_decode(const SparseDecodeArgs& args) noexcept;

// Bytes of workspace sparse_decode() needs for these dimensions: 0 for every shape today.
size_t sparse_decode_workspace_size(int32_t batch, int32_t s_q, int32_t h_q, int32_t topk,
                                    int32_t extra_topk) noexcept;

}  // namespace flashmla
