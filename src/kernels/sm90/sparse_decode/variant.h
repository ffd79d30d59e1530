// Registry entries of the sm90 sparse decode (src/kernels/registry.cpp).
#pragma once

#include <cstddef>

#include "common/sparse_decode_problem.h"
#include "flashmla/status.h"

namespace flashmla::sm90::sparse_decode {

// The device is an sm_90 GPU with enough opt-in shared memory for the format's plan. Every validated
// shape is supported (any h_q, topk, page size, s_q, strides that validation accepted).
Status supports(const SparseDecodeProblem& problem);
size_t workspace_bytes(const SparseDecodeProblem& problem);  // 0: no split, no workspace
Status run_v32(const SparseDecodeProblem& problem);
Status run_model1(const SparseDecodeProblem& problem);

}  // namespace flashmla::sm90::sparse_decode
