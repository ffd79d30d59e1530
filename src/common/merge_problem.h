// A validated merge_partial_attention() call (src/api/merge.cpp fills it): the arguments plus every
// dimension resolved once, so that no backend re-derives them from the views.
#pragma once

#include <cstdint>

#include "flashmla/merge.h"
#include "flashmla/types.h"

namespace flashmla {

struct MergeProblem {
  const MergeArgs* args = nullptr;
  int32_t num_parts = 0;  // n = outs.shape[0], 1..64
  int32_t batch = 0;      // b
  int32_t s_q = 0;        // query tokens per request
  int32_t h_q = 0;        // query heads
  int32_t head_dim = 0;   // dv, 1..1024
  int64_t rows = 0;       // b * s_q * h_q (0: nothing to do)
  DType in_dtype = DType::kBF16;   // outs
  DType out_dtype = DType::kBF16;  // out: in_dtype or fp32
};

}  // namespace flashmla
