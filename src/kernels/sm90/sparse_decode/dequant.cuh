// The e4m3 -> bf16 dequantization of the sm90 sparse decode's producer, written from the PTX ISA:
// bf16(e4m3 * scale) with one rounding, bit-identical to the CPU reference (src/cpu/sparse_decode.cpp):
// e4m3 -> f16 and f16 -> f32 are exact, and the fp32 product of a 4-bit and an 8-bit significand is exact,
// so the only rounding is the final cvt to bf16.
#pragma once

#include <cstdint>

#include "kernels/sm90/ptx.cuh"

namespace flashmla::sm90::sparse_decode {

using ptx::e4m3x2_to_f16x2;  // two e4m3 (low byte -> low half) to f16x2, exact
__device__ __forceinline__ float f16_lo_to_f32(uint32_t h2) {
  float f;
  asm("{\n .reg .b16 lo, hi;\n mov.b32 {lo, hi}, %1;\n cvt.f32.f16 %0, lo;\n}" : "=f"(f) : "r"(h2));
  return f;
}
__device__ __forceinline__ float f16_hi_to_f32(uint32_t h2) {
  float f;
  asm("{\n .reg .b16 lo, hi;\n mov.b32 {lo, hi}, %1;\n cvt.f32.f16 %0, hi;\n}" : "=f"(f) : "r"(h2));
  return f;
}
// {lo, hi} -> bf16x2 (lo in the low half), round to nearest even.
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
  uint32_t r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}
__device__ __forceinline__ float bf16_round(float x) {
  uint16_t h;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(x));
  return __uint_as_float(static_cast<uint32_t>(h) << 16);
}

// The V32 scale as the reference applies it: the fp32 scale rounded to bf16 first (as upstream).
__device__ __forceinline__ float v32_scale(uint32_t bits) { return bf16_round(__uint_as_float(bits)); }
// The MODEL1 scale 2^(e - 127) of an e8m0 code: 0xff is NaN, 0 is 2^-127 (an fp32 subnormal).
__device__ __forceinline__ float e8m0_scale(uint32_t e) {
  return e == 0xffu ? __uint_as_float(0x7fc00000u) : __uint_as_float(e == 0u ? 0x00400000u : e << 23);
}

// 16 e4m3 values (one 16-byte piece, w[0] low byte first) times `scale` -> 16 bf16 in o[0..7]
// (o[0] = channels 0, 1).
__device__ __forceinline__ void dequant16(const uint4& v, float scale, uint32_t (&o)[8]) {
  const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const uint32_t lo = e4m3x2_to_f16x2(static_cast<uint16_t>(w[j] & 0xffffu));
    const uint32_t hi = e4m3x2_to_f16x2(static_cast<uint16_t>(w[j] >> 16));
    o[2 * j] = pack_bf16x2(f16_lo_to_f32(lo) * scale, f16_hi_to_f32(lo) * scale);
    o[2 * j + 1] = pack_bf16x2(f16_lo_to_f32(hi) * scale, f16_hi_to_f32(hi) * scale);
  }
}

}  // namespace flashmla::sm90::sparse_decode
