// flashmla — arguments of dense decode and of its split-KV schedule (one struct per entry point).
//
// Shapes use FlashMLA's names: b requests, s_q query tokens per request, h_q query heads, h_kv KV heads,
// d = 576 (512 latent + 64 RoPE) and dv = 512 (the first dv channels of each cache row are the value).
// Strides are in elements; the last dimension of q, k_cache and out must be contiguous.
//
// tile_scheduler_metadata record layout, int32 [num_sm_parts, 8] (one record per SM partition):
//   [0] begin_req   first request of the partition     [1] begin_block  its first 64-token KV tile
//   [2] end_req     last request (inclusive; begin_req > end_req = no work)
//   [3] end_block   one past the last tile of end_req  [4] begin_slot   workspace slot of the first chunk
//   [5] payload     cost units per partition (informative, saturated at INT32_MAX)
//   [6] reserved    0                                   [7] status  record 0: 1 = a negative length was seen
// num_splits int32 [b + 1]: exclusive prefix sum; request i owns split slots [num_splits[i], num_splits[i+1]).
#pragma once

#include <cstdint>

#include "flashmla/mla_dims.h"
#include "flashmla/types.h"

namespace flashmla {

// compute_schedule(): the split-KV plan of one decoding step, shared by every layer of that step.
struct ScheduleArgs {
  TensorView cache_seqlens;            // int32 [b]; same device as the outputs
  int32_t num_q_rows_per_head_k = 0;   // s_q * h_q / h_kv (FlashMLA's num_heads_per_head_k)
  int32_t num_heads_k = 1;             // h_kv
  int32_t s_q = 0;                     // optional (0 = unknown): lets the plan count M tiles exactly
  int32_t num_sm_parts = 0;            // must equal tile_scheduler_metadata.shape[0]
  TensorView tile_scheduler_metadata;  // int32 [num_sm_parts, 8], written
  TensorView num_splits;               // int32 [b + 1], written: exclusive prefix sum of splits
  Stream stream = nullptr;             // CUDA stream for device tensors
};

// decode(): dense MLA decode over a paged KV cache (docs/spec.md §1).
struct DecodeArgs {
  TensorView q;              // [b, s_q, h_q, 576] bf16|fp16; float8_e4m3fn with an fp8 k_cache (§8)
  TensorView k_cache;        // [num_blocks, page_size, h_kv, 576] same dtype as q, or float8_e4m3fn
                             // (dense FP8, with q bf16 or e4m3); V = first 512 channels
                             // (page size: any >= 1 on the CPU backend, 64 for the sm90 kernel)
  TensorView block_table;    // int32 [b, max_blocks_per_seq]
  TensorView cache_seqlens;  // int32 [b]
  int32_t head_dim_v = kHeadDimV;
  float softmax_scale = 0.0f;  // 0 selects the default 576^-0.5; else a normal float in (0, 1e4]
  bool causal = false;         // end-aligned causal mask; only matters when s_q > 1

  // From compute_schedule() (required for CUDA tensors; ignored by the CPU backend).
  TensorView tile_scheduler_metadata;  // int32 [num_sm_parts, 8]
  TensorView num_splits;               // int32 [b + 1]

  // Per-tensor FP8 scales (docs/spec.md §8): real value = stored x descale; finite and > 0.
  TensorView descale_q;  // fp32 [1], only with an fp8 q (required then)
  TensorView descale_k;  // fp32 [1], required with an fp8 k_cache

  TensorView out;  // [b, s_q, h_q, 512] same dtype as q (bf16 for an fp8 q), written
  TensorView lse;  // float32 [b, h_q, s_q], written (natural log; +inf for rows that see no key)

  void* workspace = nullptr;  // device memory of at least decode_workspace_size() bytes (CUDA only)
  size_t workspace_bytes = 0;
  Stream stream = nullptr;

  // Debug mode: copy cache_seqlens and block_table to the host (a synchronization) and check every used
  // page id against num_blocks before launching. Off in the hot path. The CPU backend always checks.
  bool debug_checks = false;
};

}  // namespace flashmla
