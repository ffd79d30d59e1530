// flashmla — writers and readers of the FP8 sparse KV-cache formats (V32, MODEL1; docs/spec.md §6),
// for engines that fill caches on the host and for tests. CPU tensors only.
//
// quantize_kv_cache: bf16 latent cache [num_blocks, page_block_size, 1, d_qk] (d_qk 576 for V32, 512 for
// MODEL1) -> byte cache [num_blocks, page_block_size, 1, bytes_per_token] (uint8|int8|float8_e4m3fn;
// 656 or 584 B; stride[1] = bytes_per_token, page stride free). Per tile of 128 (V32) / 64 (MODEL1) NoPE
// values: scale = 2^ceil(log2(max(amax / 448, 1e-4))), e4m3 = round-to-nearest-even(x / scale) saturated
// to +-448; RoPE copied as bf16; MODEL1 pad bytes 0. Bytes outside the token rows (page padding) untouched.
// dequantize_kv_cache: the inverse, into bf16 [num_blocks, page_block_size, 1, d_qk]: NoPE = bf16(e4m3 *
// scale) (V32: scale rounded to bf16 first, as upstream), RoPE copied.
#pragma once

#include "flashmla/status.h"
#include "flashmla/types.h"

namespace flashmla {

Status quantize_kv_cache(KvFormat format, const TensorView& input, const TensorView& cache) noexcept;
Status dequantize_kv_cache(KvFormat format, const TensorView& cache, const TensorView& output) noexcept;

// Dense FP8 cache with one per-tensor scale (docs/spec.md §8), CPU tensors: input bf16 [num_blocks, page,
// h_kv, 576] -> cache [same shape] float8_e4m3fn|uint8 (last dim contiguous), descale fp32 [1] written.
// descale = amax / 448 over the whole tensor (1 if amax is 0); e4m3 = RNE(x / descale) saturated to
// +-448, so that the real value is e4m3 x descale. NaN/inf inputs are rejected (the scale would be).
Status quantize_dense_fp8(const TensorView& input, const TensorView& cache, const TensorView& descale) noexcept;

}  // namespace flashmla
