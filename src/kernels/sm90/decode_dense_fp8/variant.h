// Dense decode over an FP8 (e4m3) cache on sm_90a as registry variants (launch.cu).
#pragma once

#include <cstddef>

#include "common/decode_problem.h"
#include "flashmla/status.h"

namespace flashmla::sm90::dense_fp8 {

// Page size 64, an sm_90 device with enough shared memory, grid limits.
Status supports(const DecodeProblem& p);
// The split-KV workspace (src/kernels/common/split_kv.h), the same as the bf16 kernel's.
size_t workspace_bytes(const DecodeProblem& p);
// Split kernel, then the combine kernel, on args.stream. kFp8Q = false (bf16 q): the e4m3 page converted
// to bf16 in shared memory, exactly, and bf16 WGMMA (the accurate path); kFp8Q = true (float8_e4m3fn q
// with descale_q): both GEMMs on the FP8 tensor cores, P quantized to e4m3 (decode_dense_fp8q/, the fast
// path). The descales are read on the device. No allocation, no host synchronization.
template <bool kFp8Q>
Status run(const DecodeProblem& p);

}  // namespace flashmla::sm90::dense_fp8
