// CPU reference of merge_partial_attention (include/flashmla/merge.h): float64 accumulation,
// multithreaded over rows. The arguments are already validated (src/api/merge.cpp).
#pragma once

#include "common/merge_problem.h"
#include "flashmla/status.h"

namespace flashmla::cpu {

// Registry entry (key: op kMerge, backend kCpu, q_dtype = outs dtype). Writes out and lse.
Status run_merge(const MergeProblem& p) noexcept;

}  // namespace flashmla::cpu
