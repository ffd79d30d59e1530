// flashmla_bench — device-side random fills: multi-GB inputs in milliseconds instead of minutes on the
// host. Values follow the tests' distribution, clamp(randn / 10, -1, 1), from a counter-based hash
// (splitmix64 of seed and index) and Box-Muller: deterministic for a seed, independent of the launch shape.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace flashmla::bench {

// dst: `n` 16-bit values (bf16 if !fp16, else IEEE half) of clamp(N(0,1) / 10, -1, 1).
cudaError_t fill_randn_16bit(void* dst, int64_t n, bool fp16, uint64_t seed, cudaStream_t stream);
// dst: `n` e4m3 bytes (float8_e4m3fn) of clamp(N(0,1) / 10, -1, 1) * scale, rounded to nearest even and
// saturated to +-448 (the dense FP8 quantizer's rule with descale = 1 / scale).
cudaError_t fill_randn_e4m3(void* dst, int64_t n, float scale, uint64_t seed, cudaStream_t stream);

}  // namespace flashmla::bench
