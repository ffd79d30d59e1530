// A validated sparse_decode() call: the arguments plus every dimension resolved once by
// src/api/sparse_decode.cpp, so that no backend re-derives them from the views.
#pragma once

#include <cstdint>

#include "flashmla/sparse_decode.h"
#include "flashmla/types.h"

namespace flashmla {

// One KV pool (the main cache or the extra one).
struct SparseKvPool {
  int64_t num_blocks = 0;     // k_cache.shape[0]
  int32_t page_size = 0;      // k_cache.shape[1] (>= 1)
  int64_t page_stride = 0;    // bytes between pages (k_cache.stride[0]; page_size * bytes if one page)
  int64_t num_tokens = 0;     // num_blocks * page_size: indices in [0, num_tokens) are valid
  int32_t topk = 0;           // indices.shape[2] (0: pool absent)
  bool has_topk_length = false;
};

struct SparseDecodeProblem {
  const SparseDecodeArgs* args = nullptr;
  KvFormat format = KvFormat::kSparseV32;  // from d_qk
  int32_t batch = 0;                       // b
  int32_t s_q = 0;                         // query tokens per request
  int32_t h_q = 0;                         // query heads
  int32_t d_qk = 0;                        // 576 (V32) or 512 (MODEL1)
  int32_t bytes_per_token = 0;             // 656 or 584
  SparseKvPool main;                       // k_cache / indices / topk_length
  SparseKvPool extra;                      // extra_k_cache / extra_indices / extra_topk_length (topk 0 if absent)
  bool has_attn_sink = false;
  float softmax_scale = 0.0f;              // resolved (never the "default" 0)
};

}  // namespace flashmla
