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
// The sm90 kernel needs no schedule: one CTA per (request, query token, 64-head block), each walking all
// of its top-k list, when that fills the GPU; with fewer such CTAs than SMs (small batches) each list is
// split into n contiguous ranges of 64-token blocks on n CTAs, whose fp32 partials a combine kernel
// merges (docs/sparse_decode.md). n is chosen from shapes on the host; the ranges from topk_length on the
// device. The split needs a workspace of sparse_decode_workspace_size() bytes.
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

  // CUDA: >= sparse_decode_workspace_size(b, s_q, h_q, topk, extra_topk, num_splits) bytes, 16-byte
  // aligned, disjoint from every tensor; needed only when that size is non-zero. Contents need no
  // initialisation; the stream-ordered next call may reuse it. Ignored for CPU tensors.
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  // Split count of each top-k list on CUDA: 0 = automatic (split only when b * s_q * ceil(h_q / 64) is
  // below the SM count); n >= 1 = exactly min(n, ceil(topk / 64) + ceil(extra_topk / 64)) splits, for
  // tests and tuning (n > 1 needs s_q * h_q <= 65535). The CPU backend ignores it.
  int32_t num_splits = 0;
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

// Bytes of workspace sparse_decode() needs for these dimensions (topk, extra_topk: the index tensors'
// last dimensions, extra_topk 0 without an extra cache) and num_splits (SparseDecodeArgs::num_splits):
// 0 when the launch does not split (e.g. b * s_q * ceil(h_q / 64) >= 132), else the partials' size
// for the largest sm_90 part (132 SMs), which covers any sm_90 device. At most ~17.3 MB for an
// automatic split. 0 for invalid dimensions (sparse_decode() reports them); SIZE_MAX if it overflows.
size_t sparse_decode_workspace_size(int32_t batch, int32_t s_q, int32_t h_q, int32_t topk, int32_t extra_topk,
                                    int32_t num_splits = 0) noexcept;

}  // namespace flashmla
