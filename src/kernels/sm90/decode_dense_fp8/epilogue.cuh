// Epilogue of one request chunk: descale_k x O / rowsum to the output (whole request) or to an fp32
// workspace slot (a piece of a split request, merged by the shared combine kernel), and the LSE.
#pragma once

#include "kernels/sm90/decode_dense_fp8/config.h"
#include "kernels/sm90/decode_dense_fp8/mainloop.cuh"
#include "kernels/sm90/decode_dense_fp8/params.h"

namespace flashmla::sm90::dense_fp8 {

struct RowInfo {
  int token;   // query token j
  int head;    // query head (0..h_q)
  int limit;   // keys [0, limit) are visible (causal end-aligned, and never past the length)
  bool valid;  // false for padding rows of the tile
};

constexpr float kLn2 = 0.69314718055994530942f;

// V was multiplied in as the raw e4m3 values: O_real = descale_k * O, folded into the 1 / l factor.
// The LSE needs no correction: the scores were scaled by softmax_scale * descale_k, so m and l are
// those of the real scores.
__device__ __forceinline__ void store_output(const DenseFp8DecodeParams& p, const float (&o)[128], const float (&m)[2],
                                             const float (&l)[2], const RowInfo (&rows)[2], int req, bool split,
                                             int slot, int c, int tq, float descale_k) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (!rows[r].valid) continue;
    const bool seen = l[r] > 0.0f;
    const float inv = seen ? descale_k / l[r] : 0.0f;
    const float lse = seen ? (m[r] + __log2f(l[r])) * kLn2 : (split ? kNegInf : -kNegInf);
    if (!split) {
      uint16_t* dst = static_cast<uint16_t*>(p.split.out) + req * p.split.stride_o_b + rows[r].token * p.split.stride_o_s +
                      rows[r].head * p.split.stride_o_h + c * (kHeadDimV / 2) + 2 * tq;
#pragma unroll
      for (int j = 0; j < 32; ++j)
        *reinterpret_cast<uint32_t*>(dst + 8 * j) = kernels::pack2<false>(o[4 * j + 2 * r] * inv, o[4 * j + 2 * r + 1] * inv);
      if (c == 0 && tq == 0)
        p.split.lse[req * p.split.stride_lse_b + rows[r].head * p.split.stride_lse_h + rows[r].token * p.split.stride_lse_s] = lse;
    } else {
      const int64_t row = (static_cast<int64_t>(slot) * p.s_q + rows[r].token) * p.h_q + rows[r].head;
      float* dst = p.split.partial_o + row * kHeadDimV + c * (kHeadDimV / 2) + 2 * tq;
#pragma unroll
      for (int j = 0; j < 32; ++j)
        *reinterpret_cast<float2*>(dst + 8 * j) = make_float2(o[4 * j + 2 * r] * inv, o[4 * j + 2 * r + 1] * inv);
      if (c == 0 && tq == 0) p.split.partial_lse[row] = lse;
    }
  }
}

}  // namespace flashmla::sm90::dense_fp8
