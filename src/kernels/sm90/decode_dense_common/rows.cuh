// The two tile rows a consumer thread owns, shared by the two dense decode kernels: their geometry
// (make_rows), the RoPE channels of their 16-bit Q as WGMMA A fragments (load_q_rope), and the chunk's
// output (store_output). Params is the kernel's parameter struct (DenseDecodeParams or
// DenseFp8DecodeParams: the fields used here have the same names and meanings).
#pragma once

#include <cstdint>

#include "common/tile_map.h"
#include "kernels/common/convert.cuh"
#include "kernels/sm90/decode_dense_common/consumer.cuh"
#include "kernels/sm90/decode_dense_common/geometry.h"

namespace flashmla::sm90::dense_common {

// One of the two tile rows a consumer thread owns.
struct RowInfo {
  int token;   // query token j
  int head;    // query head (0..h_q)
  int limit;   // keys [0, limit) are visible (causal end-aligned, and never past the length)
  bool valid;  // false for padding rows of the tile
};

constexpr float kLn2 = 0.69314718055994530942f;

// Geometry of this thread's rows r0 and r0 + 8 of the tile for a request of length L.
template <class Params>
__device__ __forceinline__ void make_rows(RowInfo (&rows)[2], const Params& p, int tile, int kvh, int r0, int L) {
  const plan::TileMap& tm = p.tiles;
  const int j0 = plan::tile_first_token(tm, tile), h0 = plan::tile_first_head(tm, tile);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = r0 + 8 * r;
    const int hh = h0 + row % tm.heads;
    rows[r].token = j0 + row / tm.heads;
    rows[r].head = kvh * p.heads_per_kv + hh;
    rows[r].valid = row < tm.heads * tm.tokens && rows[r].token < p.s_q && hh < p.heads_per_kv;
    rows[r].limit = p.causal ? min(L, L - (p.s_q - 1 - rows[r].token)) : L;
  }
}

// Q RoPE channels 512..575 of rows r0, r1 of a 16-bit q as WGMMA A fragments (k-step kk: a0 = (r0,
// 16kk+2tq..+1), a1 = (r1, ...), a2 = (r0, 16kk+8+2tq..), a3 = (r1, ...)). Padding rows read as zero.
template <class Params>
__device__ __forceinline__ void load_q_rope(uint32_t (&qr)[16], const Params& p, int req, const RowInfo (&rows)[2],
                                            int tq) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const uint32_t* src = nullptr;
    if (rows[r].valid) {
      const uint16_t* q = static_cast<const uint16_t*>(p.q) + req * p.stride_q_b + rows[r].token * p.stride_q_s +
                          rows[r].head * p.stride_q_h + kHeadDimV;
      src = reinterpret_cast<const uint32_t*>(q);
    }
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      qr[4 * kk + r] = src ? __ldg(src + 8 * kk + tq) : 0u;
      qr[4 * kk + 2 + r] = src ? __ldg(src + 8 * kk + 4 + tq) : 0u;
    }
  }
}

// An opaque copy of r0 for the epilogue's make_rows: it stops the compiler from reusing (and so keeping
// live through the main loop, i.e. spilling) the first make_rows' values. The kernels on 224-register
// consumers use it as their policy's epilogue_r0.
__device__ __forceinline__ int opaque_r0(int r0) {
  int r0e = r0;
  asm volatile("" : "+r"(r0e));
  return r0e;
}

// Epilogue of one request chunk: o_scale x O / rowsum to the output (whole request) or to an fp32
// workspace slot (a piece of a split request, merged later by the combine kernel), and the log-sum-exp.
// o_scale is 1 for the bf16/fp16 kernel and descale_k for the FP8-cache kernel (its V was multiplied
// in as the raw e4m3 values; its LSE needs no correction since the scores were scaled by
// softmax_scale * descale_k, so m and l are those of the real scores).
// Direct 4-byte (2 x 16-bit) or 8-byte (2 x f32) stores from the accumulator fragments: a warp writes
// 8 rows x 16 contiguous bytes per instruction. O is small next to the KV stream it summarises.
template <bool kFp16, class Params>
__device__ __forceinline__ void store_output(const Params& p, const float (&o)[128], const float (&m)[2],
                                             const float (&l)[2], const RowInfo (&rows)[2], int req, bool split,
                                             int slot, int c, int tq, float o_scale = 1.0f) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (!rows[r].valid) continue;
    const bool seen = l[r] > 0.0f;
    const float inv = seen ? o_scale / l[r] : 0.0f;
    const float lse = seen ? (m[r] + __log2f(l[r])) * kLn2 : (split ? kNegInf : -kNegInf);
    if (!split) {
      uint16_t* dst = static_cast<uint16_t*>(p.split.out) + req * p.split.stride_o_b + rows[r].token * p.split.stride_o_s +
                      rows[r].head * p.split.stride_o_h + c * (kHeadDimV / 2) + 2 * tq;
#pragma unroll
      for (int j = 0; j < 32; ++j)
        *reinterpret_cast<uint32_t*>(dst + 8 * j) =
            kernels::pack2<kFp16>(o[4 * j + 2 * r] * inv, o[4 * j + 2 * r + 1] * inv);
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

}  // namespace flashmla::sm90::dense_common
