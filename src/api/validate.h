// Argument validation of the public entry points (SPEC §5). Every check happens here, once, before any
// backend runs: the backends receive a resolved DecodeShape and may assume everything below holds.
//
// Status codes. kInvalidArgument: the request is malformed (wrong rank, dtype, shape, stride, pointer,
// value). kNotSupported: the request is well formed but this build or this library version cannot run
// it (page size other than 64, head dims other than 576/512, more than 8 KV heads, CUDA tensors in a
// CPU-only build, fp16 kernels not built). Messages read "<argument>: expected <what>, got <actual>".
//
// What is checked for decode():
//   - presence and rank of q, k_cache, block_table, cache_seqlens, out, lse (and, for CUDA tensors,
//     tile_scheduler_metadata and num_splits; on the CPU they are optional and checked when given);
//   - one device: every tensor has q's device type, and for CUDA q's device index;
//   - dtypes: q bf16|fp16, k_cache and out as q, lse float32, the index tensors int32;
//   - shapes: sizes >= 0, element counts and stride extents fit in int64, 1 <= b <= kMaxBatch,
//     s_q >= 1, h_q >= 1, b * s_q * h_q <= kMaxQueryRows, d = 576, dv = 512, page size 64,
//     1 <= h_kv <= 8, h_q % h_kv == 0, num_blocks >= 1, block_table [b, *], cache_seqlens [b],
//     out [b, s_q, h_q, dv], lse [b, h_q, s_q], metadata [P, 8] (1 <= P <= kMaxSmParts), num_splits [b+1];
//   - strides: the last dimension of q, k_cache and out contiguous and their other strides >= 0;
//     block_table's last dimension and cache_seqlens, metadata and num_splits contiguous (strides of
//     dimensions of size 1 are free); out and lse any stride but 0 on a dimension of size > 1;
//   - pointers: non-null for non-empty tensors, aligned to the element size; CUDA: q, k_cache and out
//     16-byte aligned with strides (other than the last) that are multiples of 16 bytes below 2^40
//     (TMA descriptors; out: 16-byte vector stores), metadata 16-byte aligned;
//   - aliasing: out and lse may overlap no input nor each other; the CUDA workspace overlaps nothing;
//   - softmax_scale: <= 0 or NaN selects 1/sqrt(d); +inf is rejected; a finite positive value is kept;
//   - CUDA workspace: non-null and at least decode_workspace_size(b, s_q, h_q, dv, P) bytes when that
//     size is not 0, 16-byte aligned;
//   - values, only for CPU tensors (host memory, read here): cache_seqlens[i] >= 0,
//     ceil(L_i / 64) <= block_table.shape[1] and every used page id in [0, num_blocks). For CUDA
//     tensors these are a caller contract, checked only in debug mode (gpu::debug_check_inputs).
// Nothing here dereferences a CUDA pointer, launches a kernel or writes any tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/decode_shape.h"
#include "flashmla/params.h"
#include "flashmla/status.h"
#include "flashmla/types.h"

namespace flashmla::detail {

// Bounds that keep every derived index and size far from overflow.
constexpr int64_t kMaxBatch = int64_t{1} << 20;            // requests per call
constexpr int64_t kMaxQueryRows = (int64_t{1} << 31) - 1;  // b * s_q * h_q
constexpr int64_t kMaxSmParts = int64_t{1} << 20;          // tile_scheduler_metadata.shape[0]
constexpr int64_t kTmaMaxStrideBytes = int64_t{1} << 40;   // cuTensorMapEncodeTiled's stride limit
constexpr int64_t kTmaStrideAlignBytes = 16;
constexpr int64_t kBaseAlignBytes = 16;

// The default softmax scale: 1 / sqrt(head_dim), head_dim being q's last dimension.
float default_softmax_scale(int64_t head_dim);

// Validates every argument of decode() (see above) and fills *out_shape (may be null) on success.
// For CPU tensors it also reads cache_seqlens and block_table to check their values.
Status validate_decode(const DecodeArgs& args, DecodeShape* out_shape);

// The value checks alone (host memory only; validate_decode calls this for CPU tensors). `shape` must
// come from a successful structural validation of the same arguments.
Status validate_decode_values(const DecodeArgs& args, const DecodeShape& shape);

// Validates compute_schedule()'s arguments; *batch (may be null) receives b = cache_seqlens.shape[0].
// cache_seqlens values are not checked (negative entries are counted as 0 and flagged in the status
// field of record 0, identically on both backends).
Status validate_schedule(const ScheduleArgs& args, int32_t* batch);

// Validates query_num_sm_parts()'s scalar arguments.
Status validate_sm_parts_query(int32_t num_q_rows_per_head_k, int32_t num_heads_k, int32_t s_q);

// decode_workspace_size() with overflow checks: false when an argument is negative or the size does
// not fit in size_t; otherwise *bytes = workspace_layout(...).total_bytes.
bool checked_workspace_bytes(int32_t batch, int32_t s_q, int32_t h_q, int32_t head_dim_v,
                             int32_t num_sm_parts, size_t* bytes);

// "cpu" or "cuda:<index>".
std::string device_string(DeviceType device, int32_t index);

}  // namespace flashmla::detail
