// A validated decode() / compute_schedule() call: the arguments plus every dimension resolved once
// (src/api/decode.cpp, src/api/schedule.cpp fill them), so no backend re-derives them from the views.
#pragma once

#include <cstdint>

#include "flashmla/decode.h"
#include "flashmla/mla_dims.h"
#include "flashmla/types.h"

namespace flashmla {

struct DecodeShape {
  int32_t batch = 0;         // b
  int32_t s_q = 0;           // query tokens per request
  int32_t h_q = 0;           // query heads
  int32_t h_kv = 0;          // KV heads
  int32_t heads_per_kv = 0;  // h_q / h_kv
  int32_t head_dim = kHeadDimQK;   // d
  int32_t head_dim_v = kHeadDimV;  // dv
  int64_t num_blocks = 0;          // pages in k_cache
  int32_t page_size = 0;           // tokens per page (k_cache.shape[1])
  int32_t max_blocks_per_seq = 0;  // block_table.shape[1]
  int32_t num_sm_parts = 0;        // tile_scheduler_metadata.shape[0] (0 on the CPU without a schedule)
  DType dtype = DType::kBF16;      // q, k_cache and out
  float softmax_scale = 0.0f;      // resolved (never the "default" marker)
};

struct DecodeProblem {
  const DecodeArgs* args = nullptr;
  DecodeShape shape;
};

struct ScheduleProblem {
  const ScheduleArgs* args = nullptr;
  int32_t batch = 0;  // cache_seqlens.shape[0]
};

}  // namespace flashmla
