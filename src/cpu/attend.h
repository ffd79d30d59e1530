// Building blocks of the CPU decode (implemented in decode.cpp), shared with the testing library's
// replay of the GPU split + combine path (testing/split_combine.cpp).
#pragma once

#include <cstdint>
#include <functional>

#include "common/decode_problem.h"
#include "flashmla/params.h"

namespace flashmla::cpu::detail {

// Threads of the CPU backend: FLASHMLA_CPU_THREADS if set (1..1024), else the hardware's.
int32_t num_threads() noexcept;

// Runs fn(0) ... fn(n - 1) on up to num_threads() threads (the caller's thread included). Returns false
// if any call threw; the remaining items are then skipped.
bool parallel_for(int64_t n, const std::function<void(int64_t)>& fn) noexcept;

// Softmax attention of query token `token` of request `req`, query heads [h_begin, h_end) (all mapped
// to KV head `kv_head`), over the keys [key_begin, key_end) of the request (0 <= key_begin, key_end <=
// the request's length; the caller guarantees that the pages holding them are valid).
// out: [h_end - h_begin, head_dim_v] normalised by the chunk's own sum (zeros if no key);
// lse: [h_end - h_begin] natural-log log-sum-exp of the scaled scores (-inf if no key).
// May throw std::bad_alloc.
void attend(const DecodeArgs& args, const DecodeShape& shape, int32_t req, int32_t token, int32_t kv_head,
            int32_t h_begin, int32_t h_end, int64_t key_begin, int64_t key_end, double* out, double* lse);

// Keys visible to query token `token` of a request of length L: [0, limit) (end-aligned causal mask).
int64_t key_limit(int32_t L, int32_t token, int32_t s_q, bool causal) noexcept;

}  // namespace flashmla::cpu::detail
