// The dimensions of one decode() call after validation (src/api/validate.cpp fills it): every backend
// receives the same resolved numbers, so no backend re-derives them from the views.
#pragma once

#include <cstdint>

#include "flashmla/types.h"

namespace flashmla {

struct DecodeShape {
  int32_t batch = 0;         // b
  int32_t s_q = 0;           // query tokens per request
  int32_t h_q = 0;           // query heads
  int32_t h_kv = 0;          // KV heads
  int32_t heads_per_kv = 0;  // h_q / h_kv
  int32_t head_dim = 576;    // d
  int32_t head_dim_v = 512;  // dv
  int64_t num_blocks = 0;    // pages in k_cache
  int32_t page_size = 64;
  int32_t max_blocks_per_seq = 0;  // block_table.shape[1]
  int32_t num_sm_parts = 0;        // tile_scheduler_metadata.shape[0] (0 on the CPU without a schedule)
  DType dtype = DType::kBF16;
  float softmax_scale = 0.0f;  // resolved (never the "default" marker)
};

}  // namespace flashmla
