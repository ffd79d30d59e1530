// S = Q K^T of one page for both dense decode split kernels (the bf16/fp16 one and the FP8-cache one,
// whose converter publishes the same bf16 page layout group by group).
//
// Fragment ownership (WGMMA m64nNk16 accumulator layout): thread t of a consumer warpgroup owns rows
// r0 = 16*(t/32) + (t%32)/4 and r1 = r0 + 8 of the 64-row tile; within each n8 column block j it owns
// columns 8j + 2*(t%4) + {0,1}. S (64 x 64 scores) is s[32]: s[4j + e] with e in {0,1} -> row r0,
// e in {2,3} -> r1.
#pragma once

#include <cstdint>

#include "kernels/sm90/decode_dense_common/geometry.h"
#include "kernels/sm90/ptx.cuh"
#include "kernels/sm90/wgmma_ops.cuh"

namespace flashmla::sm90::dense_common {

// S = Q * K^T over 576 channels: 4 k-steps with Q RoPE from registers, 32 with Q NoPE from smem.
// Q and K tiles are 64-row x 64-channel boxes, 8192 B apart, K-major with 128 B swizzle. Each box group
// is waited for just before its k-steps (full_bars: that page's 3 group barriers, 8 B apart, indexed
// by BoxGroup), in the order the producer refills them (RoPE box first), so the tensor cores start on
// the first group that lands instead of the whole page.
template <bool kFp16>
__device__ __forceinline__ void issue_qk(float (&s)[32], uint32_t q_smem, uint32_t k_smem, const uint32_t (&qr)[16],
                                         uint32_t full_bars, uint32_t parity) {
  // Descriptors built once; each k-step adds its byte offset / 16 to the start-address field.
  const uint64_t dq = ptx::desc_kmajor(q_smem), dk = ptx::desc_kmajor(k_smem);
  ptx::mbar_wait(full_bars + 8 * kGroupRope, parity);
  ptx::wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    const uint32_t a[4] = {qr[4 * kk], qr[4 * kk + 1], qr[4 * kk + 2], qr[4 * kk + 3]};
    wgmma_m64n64k16_rs<kFp16, 0>(s, a, ptx::desc_advance(dk, kRopeBox * kBoxBytes + kk * 32), kk > 0);
  }
#pragma unroll
  for (int box = 0; box < kQBoxes; ++box) {
    if (box % 4 == 0) {  // boxes 0-3 are group kGroupLo, 4-7 kGroupHi
      ptx::mbar_wait(full_bars + 8 * (box < 4 ? kGroupLo : kGroupHi), parity);
      ptx::wgmma_fence();  // without it ptxas inserts one in the wait loop and serializes all WGMMAs (C7520)
    }
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      const uint32_t off = box * kBoxBytes + kk * 32;
      wgmma_m64n64k16_ss<kFp16, 0>(s, ptx::desc_advance(dq, off), ptx::desc_advance(dk, off), 1);
    }
  }
  ptx::wgmma_commit();
}

}  // namespace flashmla::sm90::dense_common
