// Kernel parameters of the sm90 sparse decode (one POD, filled by launch.cu from a validated problem).
#pragma once

#include <cstdint>

namespace flashmla::sm90::sparse_decode {

// One KV pool: the main cache (pools[0]) or the extra one (pools[1], topk 0 when absent).
struct PoolParams {
  const uint8_t* cache;        // [num_blocks, page_size, 1, bytes_per_token] bytes
  int64_t page_stride;         // bytes between pages (multiple of 8; cache 8-byte aligned)
  int64_t num_tokens;          // num_blocks * page_size: valid indices are [0, num_tokens)
  int32_t page_size;           // tokens per page (>= 1)
  int32_t page_shift;          // log2(page_size) when it is a power of two (page and row by shift / mask), else -1
  int32_t narrow;              // 1: cache or page_stride only 8-byte aligned -> 8-byte gathers; 0: 16-byte
  int32_t topk;                // indices.shape[2]; 0 = pool absent
  const int32_t* indices;      // [b, s_q, topk]
  int64_t stride_indices_b, stride_indices_s, stride_indices_k;
  const int32_t* topk_length;  // [b] or nullptr (then topk)
  int64_t stride_topk_length_b;
};

struct SparseDecodeParams {
  const uint16_t* q;  // [b, s_q, h_q, d_qk] bf16, strides multiples of 8 elements, base 16-byte aligned
  int64_t stride_q_b, stride_q_s, stride_q_h;
  PoolParams pools[2];
  const float* attn_sink;  // [h_q] or nullptr
  int64_t stride_attn_sink_h;
  uint16_t* out;  // [b, s_q, h_q, 512] bf16, even strides
  int64_t stride_out_b, stride_out_s, stride_out_h;
  float* lse;  // [b, h_q, s_q]
  int64_t stride_lse_b, stride_lse_h, stride_lse_s;
  int32_t batch;
  int32_t s_q;
  int32_t h_q;
  int32_t num_head_blocks;  // ceil(h_q / kHeadsPerCta)
  float scale_log2;         // softmax_scale * log2(e)
  // Split of the top-k list (split_plan.h). num_splits == 1: out / lse written directly (with the sink
  // factor), the pointers below unused. > 1: CTA (.., split) writes fp32 O / l and lse (no sink) into
  // partial slot request * num_splits + split; CTA 0 also writes split_prefix / split_status for the combine.
  int32_t num_splits;
  float* partial_o;        // [b * num_splits, s_q, h_q, 512]
  float* partial_lse;      // [b * num_splits, s_q, h_q]
  int32_t* split_prefix;   // [b + 1]: i * num_splits
  int32_t* split_status;   // 1 word: 0
};

}  // namespace flashmla::sm90::sparse_decode
