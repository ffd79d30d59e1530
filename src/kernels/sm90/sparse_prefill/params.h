// The one parameter struct of the sparse prefill kernel (plain data, passed by value).
// Strides are in elements; a stride of a size-1 dimension is passed as 0 (never used for addressing).
#pragma once

#include <cstdint>

namespace flashmla::sm90::sparse_prefill {

struct SparsePrefillParams {
  int32_t h_q;            // query heads (1..128)
  int32_t head_groups;    // ceil(h_q / 64): CTAs per query token (blockIdx.x = token * head_groups + g)
  int32_t topk;           // index positions per query token
  int64_t s_kv;           // rows of kv: valid indices are [0, s_kv)
  float sm_scale;         // scores = sm_scale * q . k
  float scale_log2;       // sm_scale * log2(e): the softmax runs in the log2 domain

  const uint16_t* q;      // [s_q, h_q, d_qk] bf16, last dim contiguous, 16 B aligned rows
  int64_t stride_q_s, stride_q_h;
  const uint16_t* kv;     // [s_kv, 1, d_qk] bf16, last dim contiguous, 16 B aligned rows
  int64_t stride_kv_s;
  const int32_t* indices; // [s_q, 1, topk]
  int64_t stride_idx_s, stride_idx_k;
  const int32_t* topk_length;  // [s_q] or nullptr
  int64_t stride_tl;
  const float* attn_sink;      // [h_q] or nullptr
  int64_t stride_sink;

  uint16_t* out;          // [s_q, h_q, 512] bf16, last dim contiguous, even strides
  int64_t stride_o_s, stride_o_h;
  float* max_logits;      // [s_q, h_q]
  int64_t stride_ml_s, stride_ml_h;
  float* lse;             // [s_q, h_q]
  int64_t stride_lse_s, stride_lse_h;
};

}  // namespace flashmla::sm90::sparse_prefill
