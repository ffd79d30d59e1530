// CPU reference of sparse_prefill() (include/flashmla/sparse_prefill.h): the oracle of the sm90 kernel.
#pragma once

#include <cstdint>

#include "common/sparse_prefill_problem.h"
#include "flashmla/status.h"

namespace flashmla::cpu {

// The contract computed directly in float64, multithreaded over (query token, head). Reads only the kv
// rows of valid index positions; honours every stride of every view; writes out, max_logits and lse.
// The problem must have passed validation (src/api/sparse_prefill.cpp).
Status run_sparse_prefill(const SparsePrefillProblem& problem) noexcept;

// True iff index position `pos` of a row holding `idx` counts: 0 <= idx < s_kv and pos < length
// (length = topk_length[i] clamped to [0, topk], or topk without topk_length).
inline bool sparse_index_valid(int32_t idx, int64_t pos, int64_t length, int64_t s_kv) {
  return idx >= 0 && static_cast<int64_t>(idx) < s_kv && pos < length;
}

}  // namespace flashmla::cpu
