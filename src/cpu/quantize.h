// CPU writers / readers of the V32 and MODEL1 byte layouts (common/kv_format.h). The entry points in
// include/flashmla/quantize.h validate, then call these on raw pointers.
#pragma once

#include <cstdint>

#include "flashmla/types.h"

namespace flashmla::cpu {

// One token: `x` = d_qk bf16 bit patterns (576 V32, 512 MODEL1). `data` / `scales` point at the token's
// data row and scale bytes (V32: scales = data + 512; MODEL1: the token's 8-byte scale row).
void quantize_token(KvFormat f, const uint16_t* x, uint8_t* data, uint8_t* scales) noexcept;
// Inverse: writes d_qk bf16 bit patterns to `x` (NoPE = bf16(e4m3 * scale), RoPE copied).
void dequantize_token(KvFormat f, const uint8_t* data, const uint8_t* scales, uint16_t* x) noexcept;
// Same, into doubles (the values bf16 holds, exactly): the CPU reference's view of a cached token.
void dequantize_token(KvFormat f, const uint8_t* data, const uint8_t* scales, double* x) noexcept;

// Dense per-tensor FP8 (§8): amax of n bf16 values, and x / descale as e4m3 codes (n values).
float bf16_amax(const uint16_t* x, int64_t n) noexcept;
void quantize_dense_row(const uint16_t* x, int64_t n, float descale, uint8_t* out) noexcept;

// Byte pointers of token `row` of page `page` of a cache with the given page stride (bytes).
struct TokenBytes {
  const uint8_t* data;
  const uint8_t* scales;
};
TokenBytes token_bytes(KvFormat f, const uint8_t* cache, int64_t page_stride, int64_t page_size, int64_t page,
                       int64_t row) noexcept;

}  // namespace flashmla::cpu
