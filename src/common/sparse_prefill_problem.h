// A validated sparse_prefill() call: the arguments plus every dimension resolved once by
// src/api/sparse_prefill.cpp, so that no backend re-derives them from the views.
#pragma once

#include <cstdint>

#include "flashmla/sparse_prefill.h"

namespace flashmla {

struct SparsePrefillProblem {
  const SparsePrefillArgs* args = nullptr;
  int64_t s_q = 0;           // query tokens
  int64_t s_kv = 0;          // rows of kv
  int32_t h_q = 0;           // query heads (1..128)
  int32_t d_qk = 0;          // 512 or 576
  int32_t d_v = 512;         // value channels (the first d_v of a kv row)
  int32_t topk = 0;          // index positions per query token
  bool has_topk_length = false;
  bool has_attn_sink = false;
  float sm_scale = 0.0f;     // validated: normal, in (0, 1e4]
};

}  // namespace flashmla
