// The dense bf16/fp16 decode on sm_90a as registry variants (launch.cu).
#pragma once

#include <cstddef>

#include "common/decode_problem.h"
#include "flashmla/status.h"

namespace flashmla::sm90::dense {

// Page size 64 (the kernel's KV tile), an sm_90 device with enough shared memory, grid limits.
Status supports(const DecodeProblem& p);
// The split-KV workspace (src/kernels/common/split_kv.h).
size_t workspace_bytes(const DecodeProblem& p);
// Split kernel, then the combine kernel, on args.stream. No allocation, no host synchronization.
template <bool kFp16>
Status run(const DecodeProblem& p);

}  // namespace flashmla::sm90::dense
