// The one parameter struct of the dense decode split kernel (plain data, passed by value).
#pragma once

#include <cstdint>

#include "common/schedule_plan.h"

namespace flashmla::sm90::dense {

struct DenseDecodeParams {
  int32_t batch;          // b
  int32_t s_q;            // query tokens per request
  int32_t h_q;            // query heads
  int32_t heads_per_kv;   // h_q / h_kv
  int32_t max_blocks;     // block_table.shape[1]
  int32_t causal;         // end-aligned causal mask
  float scale_log2;       // softmax_scale * log2(e): scores are kept in the log2 domain
  plan::TileMap tiles;    // which (token, head) rows each 64-row tile holds

  const void* q;          // [b, s_q, h_q, 576]; RoPE channels are read from here, NoPE via TMA
  int64_t stride_q_b, stride_q_s, stride_q_h;
  const int32_t* block_table;  // [b, max_blocks]
  int64_t stride_bt_b;
  const int32_t* seqlens;      // [b]
  const int32_t* sched;        // [num_sm_parts, 8] (record layout: src/common/schedule_plan.h)
  const int32_t* num_splits;   // [b + 1]

  void* out;                   // [b, s_q, h_q, 512] requests with one split
  int64_t stride_o_b, stride_o_s, stride_o_h;
  float* lse;                  // [b, h_q, s_q]
  int64_t stride_lse_b, stride_lse_h, stride_lse_s;
  float* partial_o;            // [slots, s_q, h_q, 512] split chunks, normalised by their own sum
  float* partial_lse;          // [slots, s_q, h_q] natural log, -inf = saw no key
  int32_t* status;             // workspace word: 1 = invalid cache_seqlens, nothing was written
};

}  // namespace flashmla::sm90::dense
