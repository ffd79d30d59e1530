// CPU replay of the GPU's split + combine path (white-box reference for the tests).
#pragma once

#include <cstdint>

#include "common/decode_problem.h"
#include "flashmla/params.h"
#include "flashmla/status.h"

namespace flashmla::test {

// Walks the partitions of `metadata` exactly as the kernel does, computes a float32 partial output and
// log-sum-exp per split chunk, then merges them. Reproduces cpu::decode() within rounding; tests use
// it to prove that splitting is exact. Arguments must have passed validation (page ids are checked).
Status decode_split_combine(const DecodeArgs& args, const DecodeShape& shape, const int32_t* metadata,
                            const int32_t* num_splits, int32_t num_sm_parts) noexcept;

}  // namespace flashmla::test
