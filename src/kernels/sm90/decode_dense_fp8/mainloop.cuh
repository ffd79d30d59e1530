// Q*K^T of the consumer warpgroups' main loop (bf16 WGMMA over the converted page), and the waits for
// the converter's boxes. The other building blocks (masking + online softmax, the P exchange through
// shared memory, P*V with kFp16 = false, zeroing the V rows past a request's length) are the bf16
// kernel's: decode_dense_common/consumer.cuh, visible here through config.h's using-directive.
//
// Fragment ownership (WGMMA m64nNk16 accumulator layout): thread t of a consumer warpgroup owns rows
// r0 = 16*(t/32) + (t%32)/4 and r1 = r0 + 8 of the 64-row tile; within each n8 column block j it owns
// columns 8j + 2*(t%4) + {0,1}. S (64 x 64 scores) is s[32], O (64 x 256, this warpgroup's half of
// the 512 V channels) is o[128]: s[4j + e], o[4j + e] with e in {0,1} -> row r0, e in {2,3} -> r1.
#pragma once

#include <cuda_bf16.h>

#include "kernels/common/convert.cuh"
#include "kernels/sm90/decode_dense_common/consumer.cuh"
#include "kernels/sm90/decode_dense_fp8/config.h"
#include "kernels/sm90/ptx.cuh"
#include "kernels/sm90/wgmma_ops.cuh"

namespace flashmla::sm90::dense_fp8 {

// S = Q * K^T over 576 channels: 32 k-steps with Q NoPE from smem, then 4 with Q RoPE from registers.
// The converter produces the page's bf16 boxes in order 0..8 (fp8 box f -> bf16 boxes 2f, 2f+1; the
// RoPE box last), so Q*K^T waits box by box in that order and starts on the first converted box.
__device__ __forceinline__ void issue_qk(float (&s)[32], uint32_t q_smem, uint32_t k_smem, const uint32_t (&qr)[16],
                                         uint32_t full_bars, uint32_t parity) {
  const uint64_t dq = ptx::desc_kmajor(q_smem), dk = ptx::desc_kmajor(k_smem);
#pragma unroll
  for (int box = 0; box < kQBoxes; ++box) {
    ptx::mbar_wait(full_bars + 8 * box, parity);
    ptx::wgmma_fence();  // without it ptxas inserts one in the wait loop and serializes all WGMMAs (C7520)
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      const uint32_t off = box * kBoxBytes + kk * 32;
      wgmma_m64n64k16_ss<false, 0>(s, ptx::desc_advance(dq, off), ptx::desc_advance(dk, off), box > 0 || kk > 0);
    }
  }
  ptx::mbar_wait(full_bars + 8 * kRopeBox, parity);
  ptx::wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    const uint32_t a[4] = {qr[4 * kk], qr[4 * kk + 1], qr[4 * kk + 2], qr[4 * kk + 3]};
    wgmma_m64n64k16_rs<false, 0>(s, a, ptx::desc_advance(dk, kRopeBox * kBoxBytes + kk * 32), 1);
  }
  ptx::wgmma_commit();
}

// Waits for boxes [first, first + 4) of a page whose Q*K^T the other consumer ran: the data is there
// (the P exchange orders it), but the mbarrier wait is what makes the converter's writes (generic
// proxy, fenced for the async proxy) visible to this warpgroup's WGMMA reads under the memory model.
__device__ __forceinline__ void wait_boxes(uint32_t full_bars, int first, uint32_t parity) {
#pragma unroll
  for (int b = 0; b < 4; ++b) ptx::mbar_wait(full_bars + 8 * (first + b), parity);
}

}  // namespace flashmla::sm90::dense_fp8
