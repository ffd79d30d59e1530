// Building blocks of the consumer warpgroups' main loop shared by the two dense decode kernels (bf16/
// fp16 pages straight from the cache, or e4m3 pages converted to bf16 in shared memory): masking +
// online softmax, the P exchange through shared memory, P*V, and zeroing the V rows past a request's
// length. kFp16 picks the 16-bit type of P and V (the FP8-cache kernel always runs bf16). Q*K^T stays
// in each kernel: the order in which its boxes are waited for follows that kernel's producer.
//
// Fragment ownership (WGMMA m64nNk16 accumulator layout): thread t of a consumer warpgroup owns rows
// r0 = 16*(t/32) + (t%32)/4 and r1 = r0 + 8 of the 64-row tile; within each n8 column block j it owns
// columns 8j + 2*(t%4) + {0,1}. S (64 x 64 scores) is s[32], O (64 x 256, this warpgroup's half of
// the 512 V channels) is o[128]: s[4j + e], o[4j + e] with e in {0,1} -> row r0, e in {2,3} -> r1.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/common/convert.cuh"
#include "kernels/sm90/decode_dense_common/geometry.h"
#include "kernels/sm90/ptx.cuh"
#include "kernels/sm90/wgmma_ops.cuh"

namespace flashmla::sm90::dense_common {

constexpr float kNegInf = -__builtin_inff();

// O_half += P * V_half. V is the page's boxes [4*half, 4*half+4): MN-major B operand, 64 channels per
// 128 B row, boxes 8192 B apart (LBO), 8-token groups 1024 B apart (SBO). 16 tokens per k-step.
template <bool kFp16>
__device__ __forceinline__ void issue_pv_rs(float (&o)[128], const uint32_t (&pa)[16], uint32_t k_smem, int half) {
  const uint64_t dv = ptx::desc_mnmajor(k_smem + half * 4 * kBoxBytes, kBoxBytes);
  ptx::wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    const uint32_t a[4] = {pa[4 * kk], pa[4 * kk + 1], pa[4 * kk + 2], pa[4 * kk + 3]};
    wgmma_m64n256k16_rs<kFp16, 1>(o, a, ptx::desc_advance(dv, kk * 2048));
  }
  ptx::wgmma_commit();
}
template <bool kFp16>
__device__ __forceinline__ void issue_pv_ss(float (&o)[128], uint32_t p_smem, uint32_t k_smem, int half) {
  const uint64_t dv = ptx::desc_mnmajor(k_smem + half * 4 * kBoxBytes, kBoxBytes), dp = ptx::desc_kmajor(p_smem);
  ptx::wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    wgmma_m64n256k16_ss<kFp16, 1>(o, ptx::desc_advance(dp, kk * 32), ptx::desc_advance(dv, kk * 2048));
  }
  ptx::wgmma_commit();
}

// Scores of keys at or past a row's limit become -inf (a select, so NaN read from past-the-end cache
// rows -- e4m3 0x7F/0xFF convert to bf16 NaN too -- never survives). Only pages that reach a limit pay
// for this.
__device__ __forceinline__ void mask_scores(float (&s)[32], int key0, int lim0, int lim1, int tq) {
  if (key0 + kPageTokens <= min(lim0, lim1)) return;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int key = key0 + 8 * j + 2 * tq + (e & 1);
      if (key >= (e < 2 ? lim0 : lim1)) s[4 * j + e] = kNegInf;
    }
  }
}

__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// Row maxima of a page's scores in the log2 domain (quad-reduced: every thread of a row holds it).
// Separate from softmax_page so that consumer 1 can compute it while it waits for m_A. (The FP8-cache
// kernel's scale_log2 includes descale_k: its scores are those of the real, dequantized keys.)
__device__ __forceinline__ void page_row_max(const float (&s)[32], float scale_log2, float (&mx)[2]) {
  mx[0] = mx[1] = kNegInf;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    mx[0] = fmaxf(mx[0], fmaxf(s[4 * j], s[4 * j + 1]));
    mx[1] = fmaxf(mx[1], fmaxf(s[4 * j + 2], s[4 * j + 3]));
  }
  mx[0] = quad_max(mx[0]) * scale_log2;
  mx[1] = quad_max(mx[1]) * scale_log2;
}

// Online softmax of one page. m_prev: running max before this page (log2 domain, -inf = nothing seen),
// mx: the page's row maxima (page_row_max). Returns the new max in m_new, the factor that rescales
// state kept relative to m_prev in scale, and turns s into probabilities packed as the A fragments of
// P*V (pa) plus their row sums (psum).
// A row that has seen nothing keeps m = -inf; exponents then use base 0 so that no inf - inf appears.
// The probabilities of a 64 x 64 score tile (accumulator layout) as 16-bit WGMMA A fragments for P*V:
// the accumulator's column pairs are exactly the A fragment's k pairs.
template <bool kFp16>
__device__ __forceinline__ void pack_p(const float (&s)[32], uint32_t (&pa)[16]) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    pa[4 * kk + 0] = kernels::pack2<kFp16>(s[8 * kk + 0], s[8 * kk + 1]);
    pa[4 * kk + 1] = kernels::pack2<kFp16>(s[8 * kk + 2], s[8 * kk + 3]);
    pa[4 * kk + 2] = kernels::pack2<kFp16>(s[8 * kk + 4], s[8 * kk + 5]);
    pa[4 * kk + 3] = kernels::pack2<kFp16>(s[8 * kk + 6], s[8 * kk + 7]);
  }
}

template <bool kFp16>
__device__ __forceinline__ void softmax_page(float (&s)[32], const float (&m_prev)[2], const float (&mx)[2],
                                             float scale_log2, float (&m_new)[2], float (&scale)[2],
                                             float (&psum)[2], uint32_t (&pa)[16]) {
  float base[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    m_new[r] = fmaxf(m_prev[r], mx[r]);
    base[r] = m_new[r] == kNegInf ? 0.0f : m_new[r];
    scale[r] = ptx::ex2(m_prev[r] - base[r]);
    psum[r] = 0.0f;
  }
#pragma unroll
  for (int j = 0; j < 8; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float p = ptx::ex2(fmaf(s[4 * j + e], scale_log2, -base[e >> 1]));
      s[4 * j + e] = p;
      psum[e >> 1] += p;
    }
  }
  pack_p<kFp16>(s, pa);
}

// P (64 x 64, 16-bit) into shared memory as a K-major 128B-swizzled tile for the other warpgroup's
// P*V: element (r, c) at r*128 + ((c/8) ^ (r%8))*16 + (c%8)*2. Conflict-free: a warp's 32 stores hit
// 32 distinct banks.
__device__ __forceinline__ void store_p(uint32_t p_smem, const uint32_t (&pa)[16], int r0, int tq) {
  const int sw = r0 & 7;  // r1 = r0 + 8 has the same swizzle phase
  const uint32_t row0 = p_smem + r0 * 128 + 4 * tq;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const uint32_t off = static_cast<uint32_t>((j ^ sw) << 4);
    ptx::st_shared(row0 + off, pa[4 * (j / 2) + 2 * (j % 2)]);                // row r0, columns 8j + 2tq, +1
    ptx::st_shared(row0 + 8 * 128 + off, pa[4 * (j / 2) + 2 * (j % 2) + 1]);  // row r1
  }
}

// O rows times their rescale factors. Once a row's running max has settled (most pages of a long
// request) the factors are exactly 1 (ex2(0)); a warp whose 16 rows all have factor 1 skips the 128
// multiplies, which sit on the critical path between the two consumers.
__device__ __forceinline__ void scale_rows(float (&o)[128], float f0, float f1) {
  if (__all_sync(0xffffffffu, f0 == 1.0f && f1 == 1.0f)) return;
#pragma unroll
  for (int j = 0; j < 32; ++j) {
    o[4 * j + 0] *= f0;
    o[4 * j + 1] *= f0;
    o[4 * j + 2] *= f1;
    o[4 * j + 3] *= f1;
  }
}

// Zero the V channels (boxes 0..7) of page rows [valid, 64): past the request's length the cache may
// hold anything, NaN included, and 0 * NaN would poison P*V. Each thread fences its generic writes
// for the async proxy that WGMMA reads through.
__device__ __forceinline__ void zero_v_tail(uint32_t stage, int valid, int t) {
  // Thread t clears 16-byte chunk t % 8 of rows valid + t / 8, +16, ... in each of the 8 V boxes.
  const uint32_t base = stage + (t & 7) * 16;
  for (int row = valid + (t >> 3); row < kPageTokens; row += 16) {
#pragma unroll
    for (int box = 0; box < 8; ++box) ptx::st_shared_zero16(base + box * kBoxBytes + row * 128);
  }
  ptx::fence_proxy_async();
}

}  // namespace flashmla::sm90::dense_common
