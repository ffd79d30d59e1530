// Host-side conversions between float/double and the 16-bit floating-point formats flashmla stores
// (bfloat16 and IEEE binary16), on raw uint16_t bit patterns. Written out by hand so that the CPU
// backend, the tests and the benchmark round exactly like the GPU (round to nearest, ties to even)
// on every host compiler, without _Float16 or any CUDA header.
//
//   bf16: 1 sign, 8 exponent, 7 mantissa bits — the upper half of a float.
//   fp16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals down to 2^-24, max 65504.
//
// NaN inputs stay NaN (sign and the leading payload bits are kept, the result is quiet); values too
// large for the format round to infinity exactly as IEEE round-to-nearest-even prescribes.
#pragma once

#include <cstdint>
#include <cstring>

#include "flashmla/types.h"

namespace flashmla::numerics {

constexpr uint16_t kBF16QuietNaN = 0x7fc0;
constexpr uint16_t kFP16QuietNaN = 0x7e00;
constexpr uint16_t kBF16PosInf = 0x7f80;
constexpr uint16_t kFP16PosInf = 0x7c00;

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline uint64_t double_bits(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
}

// ---- bfloat16 ------------------------------------------------------------------------------------

inline float bf16_to_float(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

inline uint16_t float_to_bf16(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep sign and top payload bits, force quiet
    return static_cast<uint16_t>((u >> 16) | 0x0040u);
  }
  // Adding 0x7fff plus the lsb of the kept half rounds to nearest, ties to even; a carry out of the
  // mantissa correctly bumps the exponent (up to infinity for the largest finite floats).
  const uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(rounded >> 16);
}

// ---- IEEE binary16 -------------------------------------------------------------------------------

inline float fp16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (mant << 13));  // inf / NaN (payload kept)
  if (exp != 0) return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return bits_float(sign);  // +-0
  // Subnormal: mant * 2^-24, exact in float.
  const float mag = static_cast<float>(mant) * bits_float(0x33800000u);  // 2^-24
  return sign ? -mag : mag;
}

inline uint16_t float_to_fp16(float f) {
  const uint32_t u = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) {
    if (a == 0x7f800000u) return sign | kFP16PosInf;
    return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // quiet NaN, payload kept
  }
  if (a >= 0x477ff000u) return sign | kFP16PosInf;  // >= 65520 = halfway between 65504 and 2^16
  if (a >= 0x38800000u) {                           // normal result: |f| >= 2^-14
    const uint32_t rebased = a - (112u << 23);      // float exponent bias 127 -> half bias 15
    uint32_t h = rebased >> 13;
    const uint32_t rem = rebased & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // carry may reach the exponent: correct
    return static_cast<uint16_t>(sign | h);
  }
  if (a < 0x33000000u) return sign;  // below 2^-25: rounds to zero (2^-25 itself is a tie -> 0, even)
  // Subnormal result: |f| = M * 2^(E-23) with M the 24-bit significand; in units of 2^-24 that is
  // M >> shift with shift = -E - 1 in [14, 24].
  const int32_t e = static_cast<int32_t>(a >> 23) - 127;
  const uint32_t m = (a & 0x7fffffu) | 0x800000u;
  const int32_t shift = -e - 1;
  uint32_t h = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (h & 1u))) ++h;  // 0x3ff + 1 = 0x400: the smallest normal, correct
  return static_cast<uint16_t>(sign | h);
}

// ---- double inputs -------------------------------------------------------------------------------

// double -> float rounded to odd: the exact value is kept as a "sticky" lsb, so that a following
// round-to-nearest-even into a format with at least 2 fewer significand bits (bf16: 8, fp16: 11,
// float: 24) equals rounding the double directly. Avoids double-rounding errors.
inline float double_to_float_round_odd(double d) {
  float f = static_cast<float>(d);
  if (d != d) return f;  // NaN
  if (static_cast<double>(f) == d) return f;
  uint32_t u = float_bits(f);
  const double af = static_cast<double>(f) < 0 ? -static_cast<double>(f) : static_cast<double>(f);
  const double ad = d < 0 ? -d : d;
  if (af > ad) --u;  // rounded away from zero: truncate toward zero instead (works for inf -> FLT_MAX)
  u |= 1u;
  return bits_float(u);
}

inline uint16_t double_to_bf16(double d) { return float_to_bf16(double_to_float_round_odd(d)); }
inline uint16_t double_to_fp16(double d) { return float_to_fp16(double_to_float_round_odd(d)); }

// ---- dispatch on DType (kBF16 or kFP16) -----------------------------------------------------------

inline float half_to_float(uint16_t h, DType t) { return t == DType::kFP16 ? fp16_to_float(h) : bf16_to_float(h); }
inline uint16_t float_to_half(float f, DType t) { return t == DType::kFP16 ? float_to_fp16(f) : float_to_bf16(f); }
inline uint16_t double_to_half(double d, DType t) { return t == DType::kFP16 ? double_to_fp16(d) : double_to_bf16(d); }
inline uint16_t quiet_nan_bits(DType t) { return t == DType::kFP16 ? kFP16QuietNaN : kBF16QuietNaN; }

}  // namespace flashmla::numerics
