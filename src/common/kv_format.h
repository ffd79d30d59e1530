// The byte layouts of the two FP8 sparse KV-cache formats (docs/spec.md §6), in one place, plus the scalar
// e4m3 / e8m0 codecs the CPU backend, the quantizer and the tests share. The sm90 kernel reads the
// same constants (its loads are 16-byte vectors; conversion there is hardware cvt, see
// kernels/sm90/sparse_decode/dequant.cuh).
//
// A cache is handed over as k_cache [num_blocks, page_block_size, 1, bytes_per_token] with a 1-byte
// dtype (uint8 / int8 / float8_e4m3fn), row stride = bytes_per_token, page stride free (stride[0],
// in bytes, >= page_block_size * bytes_per_token).
//
// V32 (d_qk 576, 656 B per token, every token row self-contained):
//   [0, 512)    512 x e4m3 NoPE values
//   [512, 528)  4 x fp32 scales, scale j for NoPE values [128 j, 128 j + 128)
//   [528, 656)  64 x bf16 RoPE values
//   dequantized NoPE value = bf16( e4m3 * bf16(scale) )  (upstream rounds the scale to bf16 first;
//   the quantizer writes powers of two, for which that rounding is exact)
//
// MODEL1 (d_qk 512, 584 B per token, laid out PER PAGE):
//   page + r * 576                      token r's data row: [448 x e4m3 NoPE | 64 x bf16 RoPE]
//   page + page_block_size * 576 + r*8  token r's scale row: 7 x e8m0 (scale j for NoPE [64 j, 64 j + 64))
//                                       + 1 pad byte (written 0)
//   dequantized NoPE value = bf16( e4m3 * 2^(e8m0 - 127) )
//
// In both formats q·k runs over all d_qk channels and the value is the first 512 of them (V32: the
// NoPE part; MODEL1: NoPE and RoPE together).
#pragma once

#include <cstdint>
#include <cstring>

#include "common/host_device.h"
#include "flashmla/types.h"

namespace flashmla::kvfmt {

constexpr int32_t kHeadDimV = 512;  // value channels of both formats
constexpr int32_t kE4M3Max = 448;   // largest finite e4m3 (0x7e)

struct V32 {
  static constexpr KvFormat kFormat = KvFormat::kSparseV32;
  static constexpr int32_t kDimQK = 576;
  static constexpr int32_t kNopeDim = 512;
  static constexpr int32_t kRopeDim = 64;
  static constexpr int32_t kTile = 128;  // NoPE values per scale
  static constexpr int32_t kNumScales = kNopeDim / kTile;
  static constexpr int32_t kBytesPerToken = 656;
  static constexpr int32_t kNopeOffset = 0;    // e4m3 [512]
  static constexpr int32_t kScaleOffset = 512; // fp32 [4]
  static constexpr int32_t kRopeOffset = 528;  // bf16 [64]
  static constexpr int32_t kScaleBytes = 4;
  // Byte offsets of token `row` inside its page.
  static FLASHMLA_HD int64_t data_offset(int64_t /*page_size*/, int64_t row) { return row * kBytesPerToken; }
  static FLASHMLA_HD int64_t scale_offset(int64_t page_size, int64_t row) {
    return data_offset(page_size, row) + kScaleOffset;
  }
};
static_assert(V32::kScaleOffset == V32::kNopeDim && V32::kRopeOffset == V32::kScaleOffset + 4 * V32::kNumScales &&
                  V32::kBytesPerToken == V32::kRopeOffset + 2 * V32::kRopeDim,
              "V32 layout");

struct Model1 {
  static constexpr KvFormat kFormat = KvFormat::kSparseModel1;
  static constexpr int32_t kDimQK = 512;
  static constexpr int32_t kNopeDim = 448;
  static constexpr int32_t kRopeDim = 64;
  static constexpr int32_t kTile = 64;  // NoPE values per scale
  static constexpr int32_t kNumScales = kNopeDim / kTile;  // 7
  static constexpr int32_t kDataRowBytes = 576;            // 448 e4m3 + 64 bf16
  static constexpr int32_t kScaleRowBytes = 8;             // 7 e8m0 + 1 pad
  static constexpr int32_t kBytesPerToken = kDataRowBytes + kScaleRowBytes;  // 584
  static constexpr int32_t kNopeOffset = 0;    // within the data row
  static constexpr int32_t kRopeOffset = 448;  // within the data row
  static FLASHMLA_HD int64_t data_offset(int64_t /*page_size*/, int64_t row) { return row * kDataRowBytes; }
  static FLASHMLA_HD int64_t scale_offset(int64_t page_size, int64_t row) {
    return page_size * kDataRowBytes + row * kScaleRowBytes;
  }
};
static_assert(Model1::kRopeOffset == Model1::kNopeDim && Model1::kDataRowBytes == Model1::kNopeDim + 2 * Model1::kRopeDim &&
                  Model1::kNumScales + 1 == Model1::kScaleRowBytes,
              "MODEL1 layout");

// Format chosen by q's last dimension (docs/spec.md §6); false if d_qk is neither.
inline bool format_of_dim(int64_t d_qk, KvFormat* f) {
  if (d_qk == V32::kDimQK) { *f = KvFormat::kSparseV32; return true; }
  if (d_qk == Model1::kDimQK) { *f = KvFormat::kSparseModel1; return true; }
  return false;
}
constexpr int32_t bytes_per_token(KvFormat f) {
  return f == KvFormat::kSparseV32 ? V32::kBytesPerToken : f == KvFormat::kSparseModel1 ? Model1::kBytesPerToken : 0;
}
constexpr int32_t dim_qk(KvFormat f) {
  return f == KvFormat::kSparseV32 ? V32::kDimQK : f == KvFormat::kSparseModel1 ? Model1::kDimQK : 0;
}

// ---- scalar codecs (host) -----------------------------------------------------------------------------

inline float bits_to_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t float_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

// e4m3 "fn" (1 sign, 4 exponent bits bias 7, 3 mantissa bits; no infinity, S.1111.111 = NaN), exact.
inline float e4m3_to_float(uint8_t b) {
  const uint32_t sign = static_cast<uint32_t>(b & 0x80u) << 24;
  const uint32_t e = (b >> 3) & 0xfu, m = b & 7u;
  if (e == 15 && m == 7) return bits_to_float(sign | 0x7fc00000u);
  if (e == 0) {  // subnormal m * 2^-9; exact in float
    const float mag = static_cast<float>(m) * bits_to_float(0x3b000000u);  // 2^-9
    return sign ? -mag : mag;
  }
  return bits_to_float(sign | ((e + 120u) << 23) | (m << 20));
}

// float -> e4m3, round to nearest, ties to even, saturating finite values (and infinities) to +-448;
// NaN -> S.1111.111 with the sign kept (as torch's float8_e4m3fn conversion).
inline uint8_t float_to_e4m3(float f) {
  const uint32_t u = float_to_bits(f);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7f;
  if (a >= 0x43e00000u) return sign | 0x7e;  // >= 448 (incl. inf): saturate
  const int32_t E = static_cast<int32_t>(a >> 23);
  if (E == 0) return sign;  // float subnormal: far below e4m3's smallest subnormal (2^-9)
  const int32_t e = E - 127;
  const uint32_t m = (a & 0x7fffffu) | 0x800000u;  // |f| = m * 2^(e - 23)
  // Result in units of the e4m3 ulp at this exponent: 2^(e-3) for normals (e >= -6), 2^-9 below.
  const int32_t shift = e >= -6 ? 20 : 14 - e;  // m >> shift = |f| / ulp
  if (shift >= 32) return sign;                 // < 2^-11: rounds to 0
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1u))) ++q;
  uint32_t code;
  if (e >= -6) {
    // q in [8, 16]: 16 carries into the next binade.
    int32_t ee = e;
    if (q == 16) { q = 8; ++ee; }
    code = (static_cast<uint32_t>(ee + 7) << 3) | (q - 8);
  } else {
    code = q;  // 0..8; 8 is the smallest normal (0x08), which the encoding gives for free
  }
  if (code > 0x7e) code = 0x7e;  // unreachable for |f| < 448 (q <= 14 at e = 8); kept as a guard
  return static_cast<uint8_t>(sign | code);
}

// e8m0: an unsigned biased exponent, value 2^(b - 127); 0xff = NaN. Exact in float (2^-127 subnormal).
inline float e8m0_to_float(uint8_t b) {
  if (b == 0xff) return bits_to_float(0x7fc00000u);
  if (b == 0) return bits_to_float(0x00400000u);
  return bits_to_float(static_cast<uint32_t>(b) << 23);
}
// A power of two 2^k with k in [-127, 127] -> its e8m0 code (other inputs: the code of 2^floor(log2|f|),
// clamped; NaN -> 0xff). The quantizer only passes powers of two.
inline uint8_t float_to_e8m0(float f) {
  const uint32_t a = float_to_bits(f) & 0x7fffffffu;
  if (a > 0x7f800000u) return 0xff;
  if (a >= 0x7f800000u) return 0xfe;
  if (a < 0x00800000u) return 0;  // 2^-127 (and anything smaller) -> 0
  return static_cast<uint8_t>(a >> 23);
}

// Upstream's tile scale: 2^ceil(log2(max(amax / 448, 1e-4))), computed exactly from the float's bits
// (amax / 448 and the clamp in float, as the reference quantizer does in fp32).
inline float tile_scale(float amax) {
  float v = amax / 448.0f;
  if (!(v >= 1e-4f)) v = v != v ? v : 1e-4f;  // max(v, 1e-4); NaN stays NaN
  if (v != v) return v;
  const uint32_t a = float_to_bits(v);
  if (a >= 0x7f800000u) return v;  // inf
  int32_t e = static_cast<int32_t>(a >> 23) - 127;  // v >= 1e-4 is normal
  if ((a & 0x7fffffu) != 0) ++e;                     // not a power of two: round the exponent up
  if (e > 127) return bits_to_float(0x7f800000u);
  return bits_to_float(static_cast<uint32_t>(e + 127) << 23);
}

}  // namespace flashmla::kvfmt
