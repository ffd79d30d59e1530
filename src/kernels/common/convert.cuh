// Two floats <-> two 16-bit values in one register (round to nearest even), lo in the low half.
#pragma once

#include <cstdint>

namespace flashmla::kernels {

template <bool kFp16>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  uint32_t r;
  if constexpr (kFp16) {
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  } else {
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  }
  return r;
}

template <bool kFp16>
__device__ __forceinline__ void unpack2(uint32_t v, float& lo, float& hi) {
  if constexpr (kFp16) {
    asm("{\n .reg .f16 l, h;\n mov.b32 {l, h}, %2;\n cvt.f32.f16 %0, l;\n cvt.f32.f16 %1, h;\n}"
        : "=f"(lo), "=f"(hi)
        : "r"(v));
  } else {
    lo = __uint_as_float(v << 16);  // bf16 is the high half of an f32
    hi = __uint_as_float(v & 0xFFFF0000u);
  }
}

}  // namespace flashmla::kernels
