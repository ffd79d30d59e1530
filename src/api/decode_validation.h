// Validation of dense decode() and compute_schedule() (src/api/decode.cpp, src/api/schedule.cpp).
// Exposed for the tests; the entry points are the only other callers.
//
// decode(): presence, rank, device and dtype of q, k_cache, block_table, cache_seqlens, out, lse (and for
// CUDA tensors tile_scheduler_metadata and num_splits; optional on the CPU and checked when given); sizes
// (>= 0, element counts and stride extents in int64, 1 <= b <= 2^20, s_q >= 1, h_q >= 1,
// b * s_q * h_q <= 2^31 - 1, d = 576, dv = 512, page size >= 1, 1 <= h_kv <= 8, h_q % h_kv == 0,
// num_blocks >= 1); strides (last dimension of q, k_cache, out contiguous, others >= 0; CUDA: TMA-legal);
// outputs: no self-overlap, disjoint from every input, from each other and from the workspace; pointers
// non-null and aligned; softmax_scale (checks::resolve_softmax_scale); the CUDA workspace; and, for host
// tensors only, the values (checks::check_page_table). Kernel limits (page size 64, grid sizes, the
// device) are the registry variants' supports(). Nothing here dereferences a CUDA pointer or writes.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/decode_problem.h"
#include "flashmla/decode.h"
#include "flashmla/status.h"

namespace flashmla::detail {

Status validate_decode(const DecodeArgs& args, DecodeShape* out_shape);
// cache_seqlens values are not checked (negative entries count as 0 and are flagged in record 0).
Status validate_schedule(const ScheduleArgs& args, int32_t* batch);
Status validate_sm_parts_query(int32_t num_q_rows_per_head_k, int32_t num_heads_k, int32_t s_q);
// decode_workspace_size() with overflow checks: false when an argument is negative or the size does not
// fit in size_t.
bool checked_workspace_bytes(int32_t batch, int32_t s_q, int32_t h_q, int32_t head_dim_v, int32_t num_sm_parts,
                             size_t* bytes);

}  // namespace flashmla::detail
