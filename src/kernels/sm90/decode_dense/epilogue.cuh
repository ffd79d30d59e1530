// Epilogue of one request chunk: O / rowsum to the output (whole request) or to an fp32 workspace slot
// (a piece of a split request, merged later by the combine kernel), and the log-sum-exp.
#pragma once

#include "kernels/sm90/decode_dense/config.h"
#include "kernels/sm90/decode_dense/mainloop.cuh"
#include "kernels/sm90/decode_dense/params.h"

namespace flashmla::sm90::dense {

// One of the two tile rows a consumer thread owns.
struct RowInfo {
  int token;  // query token j
  int head;   // query head (0..h_q)
  int limit;  // keys [0, limit) are visible (causal end-aligned, and never past the length)
  bool valid; // false for padding rows of the tile
};

constexpr float kLn2 = 0.69314718055994530942f;

// Direct 4-byte (2 x 16-bit) or 8-byte (2 x f32) stores from the accumulator fragments: a warp writes
// 8 rows x 16 contiguous bytes per instruction. O is small next to the KV stream it summarises.
template <bool kFp16>
__device__ __forceinline__ void store_output(const DenseDecodeParams& p, const float (&o)[128], const float (&m)[2],
                                             const float (&l)[2], const RowInfo (&rows)[2], int req, bool split,
                                             int slot, int c, int tq) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (!rows[r].valid) continue;
    const bool seen = l[r] > 0.0f;
    const float inv = seen ? 1.0f / l[r] : 0.0f;
    const float lse = seen ? (m[r] + __log2f(l[r])) * kLn2 : (split ? kNegInf : -kNegInf);
    if (!split) {
      uint16_t* dst = static_cast<uint16_t*>(p.split.out) + req * p.split.stride_o_b + rows[r].token * p.split.stride_o_s +
                      rows[r].head * p.split.stride_o_h + c * (kHeadDimV / 2) + 2 * tq;
#pragma unroll
      for (int j = 0; j < 32; ++j)
        *reinterpret_cast<uint32_t*>(dst + 8 * j) = pack2<kFp16>(o[4 * j + 2 * r] * inv, o[4 * j + 2 * r + 1] * inv);
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

}  // namespace flashmla::sm90::dense
