// The one parameter struct of the dense FP8-cache decode split kernel (plain data, passed by value).
#pragma once

#include <cstdint>

#include "common/tile_map.h"
#include "kernels/common/split_kv.h"

namespace flashmla::sm90::dense_fp8 {

struct DenseFp8DecodeParams {
  int32_t batch;          // b
  int32_t s_q;            // query tokens per request
  int32_t h_q;            // query heads
  int32_t heads_per_kv;   // h_q / h_kv
  int32_t max_blocks;     // block_table.shape[1]
  int32_t causal;         // end-aligned causal mask
  float scale_log2;       // softmax_scale * log2(e), WITHOUT descale_k (that one is read on the device)
  plan::TileMap tiles;    // which (token, head) rows each 64-row tile holds

  const void* q;          // bf16 or e4m3 [b, s_q, h_q, 576]; RoPE channels read from here, NoPE via TMA
  int64_t stride_q_b, stride_q_s, stride_q_h;
  const float* descale_k;      // fp32 [1]: real K = stored e4m3 x *descale_k (graph-safe: read per launch)
  const float* descale_q;      // fp32 [1] for an fp8 q (real q = stored x *descale_q); null for bf16 q
  const int32_t* block_table;  // [b, max_blocks]
  int64_t stride_bt_b;
  const int32_t* seqlens;      // [b]
  const int32_t* sched;        // [num_sm_parts, 8] (record layout: include/flashmla/decode.h)
  kernels::SplitKvOutputs split;
};

}  // namespace flashmla::sm90::dense_fp8
