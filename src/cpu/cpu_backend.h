// The CPU backend: the test oracle of every GPU result and the fallback where no Hopper GPU exists.
// Arguments reaching these functions are already validated (src/api/validate.cpp).
#pragma once

#include <cstdint>

#include "common/decode_shape.h"
#include "flashmla/params.h"
#include "flashmla/status.h"

namespace flashmla::cpu {

// SPEC §1 computed directly (no split): float64 accumulation, multithreaded over (request, KV head,
// query token). Reads only the cache rows below each request's length. Writes out and lse.
Status decode(const DecodeArgs& args, const DecodeShape& shape) noexcept;

// The CPU twin of the device scheduler: bit-identical metadata for the same inputs.
// seqlens [b] host memory; metadata [num_sm_parts * 8] and num_splits [b + 1] host memory, written.
void compute_schedule(const int32_t* seqlens, int32_t batch, int32_t num_sm_parts, int32_t* metadata,
                      int32_t* num_splits) noexcept;

// Reference of the GPU's split + combine path: walks the partitions of `metadata` exactly as the
// kernel does, computes a float32 partial output and log-sum-exp per split chunk, then merges them.
// Reproduces decode() within rounding; tests use it to prove that splitting is exact.
Status decode_split_combine(const DecodeArgs& args, const DecodeShape& shape, const int32_t* metadata,
                            const int32_t* num_splits, int32_t num_sm_parts) noexcept;

}  // namespace flashmla::cpu
