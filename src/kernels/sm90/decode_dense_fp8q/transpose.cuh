// The fp8-q QGMMA kernel's V transposer: a TMA'd e4m3 page (K-major, 128B-swizzled boxes of 64 tokens x
// 128 channels) into V^T (vt_layout.h), one half (256 channels, one consumer's P*V) at a time.
//
// Per warp step (16 channels x 32 tokens, 512 B): one ldmatrix.x4.trans (4 matrices of 8 tokens x 16 B;
// lane l gets channel pair p = l / 4 of tokens 2tq, 2tq+1 of each matrix), four prmt (channel 2p and
// 2p+1 of tokens 2tq, 2tq+1, 8+2tq, 9+2tq = four consecutive V^T positions), one stmatrix.x4 (8 channel
// rows x 16 positions per matrix). A half is 32 steps, 8 per warp: about 60 instructions per warp and
// half page, against ~500 for the bf16 kernel's e4m3 -> bf16 conversion of the same bytes. Both the
// loads and the stores are bank-conflict-free (vt_layout.h; checked by the CPU replay test).
// Rows past the request's length (the last page) are zeroed: the cache may hold NaN there, and 0 * NaN
// would poison P*V even though their probabilities are 0.
#pragma once

#include <cstdint>

#include "kernels/sm90/decode_dense_fp8q/vt_layout.h"
#include "kernels/sm90/ptx.cuh"

namespace flashmla::sm90::dense_fp8q {

// Half `half` of the page in k_stage into vt_stage by warp `warp` (lane `lane`); tokens >= valid are
// written as zeros (valid = 64 for a full page). Addresses: a per-lane base plus immediates
// (vt_layout.h's tr_load_split / tr_store_split), so no per-step address stays live.
__device__ __forceinline__ void transpose_half(uint32_t k_stage, uint32_t vt_stage, int half, int warp, int lane,
                                               int valid) {
  const int tq = lane & 3;
  const uint32_t ld_base = k_stage + half * 16384 + tr_load_base(lane, warp);
  const uint32_t st_base = vt_stage + half * 16 * (2 * kVtGroupBytes) + tr_store_base(lane, warp);
  const int xr = tr_load_xor(lane, warp);
#pragma unroll
  for (int u = 0; u < 4; ++u) {
#pragma unroll
    for (int ks = 0; ks < 2; ++ks) {
      uint32_t r[4];
      ptx::ldmatrix_x4_trans(r, ld_base + ks * 4096 + ((xr ^ u) << 4));
      if (valid < kVtPositions) {
#pragma unroll
        for (int m = 0; m < 4; ++m) {
          const int tok = 32 * ks + 8 * m + 2 * tq;  // low half: tok, high half: tok + 1
          if (tok >= valid) r[m] = 0;
          else if (tok + 1 >= valid) r[m] &= 0xFFFFu;
        }
      }
      const uint32_t w[4] = {ptx::prmt(r[0], r[1], kSelEvenChannel), ptx::prmt(r[0], r[1], kSelOddChannel),
                             ptx::prmt(r[2], r[3], kSelEvenChannel), ptx::prmt(r[2], r[3], kSelOddChannel)};
      ptx::stmatrix_x4(st_base + u * (2 * kVtGroupBytes) + ks * 2 * kVtChunkBytes, w);
    }
  }
}

}  // namespace flashmla::sm90::dense_fp8q
