// The CPU backend of dense decode and of its schedule: the test oracle of every GPU result and the
// fallback where no Hopper GPU exists. Problems reaching these functions are validated (src/api/):
// lengths, block tables and page ids of host tensors included.
#pragma once

#include <cstdint>

#include "common/decode_problem.h"
#include "flashmla/status.h"

namespace flashmla::cpu {

// docs/spec.md §1 computed directly (no split): float64 accumulation, multithreaded over (request, KV
// head, query token, head group). Any page size. Reads only the cache rows below each request's length.
Status decode(const DecodeArgs& args, const DecodeShape& shape) noexcept;
inline Status run_decode(const DecodeProblem& p) { return decode(*p.args, p.shape); }

// The CPU twin of the device scheduler: bit-identical metadata for the same inputs, linear time.
// seqlens [b] host memory; metadata [num_sm_parts * 8] and num_splits [b + 1] host memory, written.
void compute_schedule(const int32_t* seqlens, int32_t batch, int32_t num_sm_parts, int32_t* metadata,
                      int32_t* num_splits) noexcept;
Status run_schedule(const ScheduleProblem& p);

}  // namespace flashmla::cpu
