// Quantizer and dequantizer of the FP8 sparse KV formats (include/flashmla/quantize.h), bit for bit
// upstream's rule: per tile, scale = 2^ceil(log2(max(amax / 448, 1e-4))), e4m3 = RNE(x / scale).
#include "cpu/quantize.h"

#include <cmath>
#include <cstring>

#include "common/kv_format.h"
#include "common/numerics.h"

namespace flashmla::cpu {
namespace {

template <class Fmt>
void quantize_nope(const uint16_t* x, uint8_t* data, float* scales_out) {
  for (int32_t t = 0; t < Fmt::kNumScales; ++t) {
    float amax = 0.0f;
    for (int32_t i = 0; i < Fmt::kTile; ++i) {
      const float v = std::fabs(numerics::bf16_to_float(x[t * Fmt::kTile + i]));
      amax = v > amax || v != v ? v : amax;
    }
    const float scale = kvfmt::tile_scale(amax);
    scales_out[t] = scale;
    for (int32_t i = 0; i < Fmt::kTile; ++i)
      data[Fmt::kNopeOffset + t * Fmt::kTile + i] =
          kvfmt::float_to_e4m3(numerics::bf16_to_float(x[t * Fmt::kTile + i]) / scale);
  }
}

template <class Fmt>
float scale_of(const uint8_t* scales, int32_t tile) {
  if constexpr (Fmt::kFormat == KvFormat::kSparseV32) {
    float s;
    std::memcpy(&s, scales + 4 * tile, 4);
    return numerics::bf16_to_float(numerics::float_to_bf16(s));  // upstream: scale rounded to bf16
  } else {
    return kvfmt::e8m0_to_float(scales[tile]);
  }
}

// NoPE values as doubles: e4m3 * scale exactly (both factors are exact in double), then rounded to bf16.
template <class Fmt, class Out>
void dequantize(const uint8_t* data, const uint8_t* scales, Out* x) {
  for (int32_t t = 0; t < Fmt::kNumScales; ++t) {
    const double s = scale_of<Fmt>(scales, t);
    for (int32_t i = 0; i < Fmt::kTile; ++i) {
      const int32_t c = t * Fmt::kTile + i;
      const uint16_t b = numerics::double_to_bf16(static_cast<double>(kvfmt::e4m3_to_float(data[Fmt::kNopeOffset + c])) * s);
      if constexpr (sizeof(Out) == 2) x[c] = b;
      else x[c] = numerics::bf16_to_float(b);
    }
  }
  for (int32_t i = 0; i < Fmt::kRopeDim; ++i) {
    uint16_t b;
    std::memcpy(&b, data + Fmt::kRopeOffset + 2 * i, 2);
    if constexpr (sizeof(Out) == 2) x[Fmt::kNopeDim + i] = b;
    else x[Fmt::kNopeDim + i] = numerics::bf16_to_float(b);
  }
}

}  // namespace

void quantize_token(KvFormat f, const uint16_t* x, uint8_t* data, uint8_t* scales) noexcept {
  if (f == KvFormat::kSparseV32) {
    using F = kvfmt::V32;
    float s[F::kNumScales];
    quantize_nope<F>(x, data, s);
    std::memcpy(scales, s, sizeof s);
    std::memcpy(data + F::kRopeOffset, x + F::kNopeDim, 2 * F::kRopeDim);
  } else {
    using F = kvfmt::Model1;
    float s[F::kNumScales];
    quantize_nope<F>(x, data, s);
    for (int32_t t = 0; t < F::kNumScales; ++t) scales[t] = kvfmt::float_to_e8m0(s[t]);
    scales[F::kNumScales] = 0;  // pad
    std::memcpy(data + F::kRopeOffset, x + F::kNopeDim, 2 * F::kRopeDim);
  }
}

void dequantize_token(KvFormat f, const uint8_t* data, const uint8_t* scales, uint16_t* x) noexcept {
  if (f == KvFormat::kSparseV32) dequantize<kvfmt::V32>(data, scales, x);
  else dequantize<kvfmt::Model1>(data, scales, x);
}
void dequantize_token(KvFormat f, const uint8_t* data, const uint8_t* scales, double* x) noexcept {
  if (f == KvFormat::kSparseV32) dequantize<kvfmt::V32>(data, scales, x);
  else dequantize<kvfmt::Model1>(data, scales, x);
}

float bf16_amax(const uint16_t* x, int64_t n) noexcept {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = std::fabs(numerics::bf16_to_float(x[i]));
    amax = v > amax || v != v ? v : amax;
  }
  return amax;
}
void quantize_dense_row(const uint16_t* x, int64_t n, float descale, uint8_t* out) noexcept {
  for (int64_t i = 0; i < n; ++i) out[i] = kvfmt::float_to_e4m3(numerics::bf16_to_float(x[i]) / descale);
}

TokenBytes token_bytes(KvFormat f, const uint8_t* cache, int64_t page_stride, int64_t page_size, int64_t page,
                       int64_t row) noexcept {
  const uint8_t* p = cache + page * page_stride;
  if (f == KvFormat::kSparseV32)
    return {p + kvfmt::V32::data_offset(page_size, row), p + kvfmt::V32::scale_offset(page_size, row)};
  return {p + kvfmt::Model1::data_offset(page_size, row), p + kvfmt::Model1::scale_offset(page_size, row)};
}

}  // namespace flashmla::cpu
