// CPU reference of sparse_decode() (include/flashmla/sparse_decode.h): the oracle of the sm90 kernels.
#pragma once

#include <cstdint>

#include "common/sparse_decode_problem.h"
#include "flashmla/status.h"

namespace flashmla::cpu {

// docs/spec.md §6 computed directly: each selected token dequantized (common/kv_format.h rule, values rounded
// to bf16 as the kernel sees them), scores, softmax and P·V in float64, multithreaded over (request,
// query token). Reads only the cache rows of valid index positions; honours every stride of every
// view; writes out (bf16, rounded once from float64) and lse. The problem must have passed validation.
Status run_sparse_decode(const SparseDecodeProblem& problem) noexcept;

// Number of index positions of request `req` that count: topk_length[req] clamped to [0, topk], or topk
// without topk_length. `tl` is the (host) topk_length view or an undefined one.
int64_t sparse_valid_length(const TensorView& tl, int32_t req, int32_t topk) noexcept;

// Whether entry `idx` names a token of a pool with `num_tokens` tokens (anything else is masked like -1).
inline bool sparse_token_valid(int32_t idx, int64_t num_tokens) { return idx >= 0 && idx < num_tokens; }

}  // namespace flashmla::cpu
