// Dense MLA decode split kernel over an FP8 (e4m3) KV cache with an e4m3 q, on the FP8 tensor cores
// (QGMMA, wgmma ... .e4m3.e4m3, fp32 accumulation), for sm_90a. The fast fp8-q path of docs/dense_fp8.md.
//
// Grid: (M tiles, h_kv, num_sm_parts), as the bf16 dense kernel: CTA (tile, g, p) computes query rows
// `tile` (plan::TileMap) of KV head g for every request chunk of schedule partition p; whole requests
// write O and LSE, pieces of split requests fp32 partials for the shared combine kernel.
//
// What differs from the bf16 kernel: nothing is converted. S = Q K^T runs on the e4m3 bytes as TMA lands them
// (both operands K-major, 18 k-steps of 32 channels); P is quantized to two e4m3 terms (p' = 256 p = hi + lo,
// config.h / ConsumerPolicy::softmax) and O = P V runs on V^T, a transposed e4m3 copy of the page's first 512
// channels that the producer warpgroup writes (e4m3 WGMMA has no transposed operand; transpose.cuh,
// vt_layout.h). The descales are read on the device: scores use softmax_scale * log2(e) * descale_q *
// descale_k, O is multiplied by descale_k / 256 / l. O moves into an fp32 carry every 64 pages (the
// tensor cores' accumulator keeps fewer bits than fp32; consumer_loop.cuh's carry_o).
//
// Warpgroup roles (384 threads):
//   WG0, producer (56 regs, 128 threads): thread 0 issues TMA -- per chunk the Q tile (5 boxes of 64
//     rows x 128 B), per page the 64 x 576 B page (5 boxes) into one of 2 K stages; warp 0 reads the
//     block table 32 entries at a time. All 128 threads transpose each page's V into its V^T stage, one
//     half (256 channels) at a time, each half published on its own mbarrier.
//   WG1 ("consumer 0") and WG2 ("consumer 1"), 224 regs each, own O[:, 0:256] and O[:, 256:512] and run
//     the bf16 kernel's seesaw over page pairs (decode_dense/kernel.cuh, decode_dense_common/
//     consumer_loop.cuh) with this kernel's page policy: c0 S_A, softmax A, O_L += P_A V^T_A; c1 S_B,
//     softmax B (after m_A), O_R += P_A V^T_A + P_B V^T_B; c0 O_L += P_B V^T_B.
// Shared memory (config.h): Q 40 KB + 2 K stages x 40 KB + 2 V^T stages x 33 KB + 2 P tiles (4 KB used
// of 8) + row exchange 1.5 KB + mbarriers = 227 KB budget, ~205 KB used.
// Pipeline: a K stage is released once both its readers are done -- the owning consumer's Q*K^T and
// the transposer (129 arrivals) -- which is early in the pair, so the next pair's TMA overlaps the
// current pair's P*V. A V^T half is released by its consumer after its P*V (the seesaw's Lo / Hi
// groups: c0 reads the low half of both pages, c1 the high half). Producer order per pair: TMA A, TMA
// B, transpose A (low, high), transpose B; no wait can close a cycle (a release never needs a later
// page's transpose).
// Masking: scores past a row's limit -> -inf (select: NaN bytes of unused cache rows never survive);
// V^T positions of tokens past the length are zeroed by the transposer.
#pragma once

#include <cuda.h>

#include "common/split_plan.h"
#include "common/tile_map.h"
#include "kernels/common/pdl.cuh"
#include "kernels/sm90/decode_dense_common/consumer_loop.cuh"
#include "kernels/sm90/decode_dense_common/rows.cuh"
#include "kernels/sm90/decode_dense_common/seesaw.cuh"
#include "kernels/sm90/decode_dense_fp8/params.h"
#include "kernels/sm90/decode_dense_fp8q/config.h"
#include "kernels/sm90/decode_dense_fp8q/transpose.cuh"
#include "kernels/sm90/ptx.cuh"
#include "kernels/sm90/wgmma_ops.cuh"

namespace flashmla::sm90::dense_fp8q {

using dense_fp8::DenseFp8DecodeParams;

// mbarrier addresses (8 B each, config.h's list). k_full / k_empty take the consumer loop's box-group
// argument: k_full(s, 0) is the K stage's TMA, k_empty(s, kGroupRope) the K stage's release (after
// Q*K^T), k_empty(s, kGroupLo / kGroupHi) the release of V^T half 0 / 1 (after that half's P*V).
struct SmemBarriers {
  uint32_t base;
  __device__ uint32_t q_full() const { return base; }
  __device__ uint32_t q_empty() const { return base + 8; }
  __device__ uint32_t k_full(int s, int) const { return base + 16 + 8 * s; }
  __device__ uint32_t kst_empty(int s) const { return base + 16 + 8 * (kKStages + s); }
  __device__ uint32_t vt_full(int s, int half) const { return base + 16 + 8 * (2 * kKStages + 2 * s + half); }
  __device__ uint32_t vt_empty(int s, int half) const { return base + 16 + 8 * (4 * kKStages + 2 * s + half); }
  __device__ uint32_t k_empty(int s, int group) const {
    return group == kGroupRope ? kst_empty(s) : vt_empty(s, group == kGroupLo ? 0 : 1);
  }
  __device__ uint32_t epilogue() const { return base + 16 + 8 * (6 * kKStages); }
  __device__ uint32_t p1_ready() const { return epilogue() + 8; }
  __device__ uint32_t p0_ready() const { return epilogue() + 16; }
};
static_assert(16 + 8 * (6 * kKStages) + 24 == 8 * kNumMbarriers, "mbarrier map = config.h's count");

// A schedule-record word re-read from memory (an L1 hit) where needed: fewer values live across the
// producer's loops on 56 registers.
__device__ __forceinline__ int rec_word(const int32_t* rec, int i) {
  int v;
  asm volatile("ld.global.nc.b32 %0, [%1];" : "=r"(v) : "l"(rec + i));
  return v;
}

// Thread 0: one e4m3 page into K stage st once its previous page was released (use > 0).
__device__ __forceinline__ void load_page(const CUtensorMap* tmap_k, const SmemBarriers& bars, uint32_t smem_k, int st,
                                          uint32_t use, int kvh, int blk) {
  if (use > 0) ptx::mbar_wait(bars.kst_empty(st), (use - 1) & 1);
  ptx::mbar_arrive_expect_tx(bars.k_full(st, 0), kF8TileBytes);
  const uint32_t dst = smem_k + st * kF8TileBytes;
#pragma unroll
  for (int b = 0; b < kF8Boxes; ++b)
    ptx::tma_load_4d(tmap_k, dst + b * kF8BoxBytes, bars.k_full(st, 0), b * kF8BoxCols, 0, kvh, blk);
}

// Every producer thread: the V of the page in K stage st into V^T stage st, half by half, each half once
// its previous occupant was released; then this thread's release of the K stage. valid: tokens of the
// page inside the request.
__device__ __forceinline__ void transpose_page(const SmemBarriers& bars, uint32_t smem_k, uint32_t smem_vt, int st,
                                               uint32_t use, int valid, int warp, int lane) {
  ptx::mbar_wait(bars.k_full(st, 0), use & 1);
  const uint32_t k_stage = smem_k + st * kF8TileBytes, vt_stage = smem_vt + st * kVtStageBytes;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    if (use > 0) ptx::mbar_wait(bars.vt_empty(st, half), (use - 1) & 1);
    transpose_half(k_stage, vt_stage, half, warp, lane, valid);
    ptx::fence_proxy_async();  // V^T is read by the consumers' WGMMA (async proxy)
    ptx::mbar_arrive(bars.vt_full(st, half));
  }
  ptx::mbar_arrive(bars.kst_empty(st));
}

// The producer warpgroup (128 threads): walks the same chunk sequence as the consumers.
__device__ __forceinline__ void producer_loop(const CUtensorMap* tmap_q, const CUtensorMap* tmap_k,
                                              const DenseFp8DecodeParams& p, const int32_t* rec, int tile, int kvh,
                                              uint32_t smem_q, uint32_t smem_k, uint32_t smem_vt,
                                              const SmemBarriers& bars) {
  const int t = threadIdx.x & 127, warp = t >> 5, lane = t & 31;
  if (t == 0) {
    ptx::prefetch_tensormap(tmap_q);
    ptx::prefetch_tensormap(tmap_k);
  }
  uint32_t kcount = 0;
  for (int req = rec_word(rec, plan::kRecBeginReq); req <= rec_word(rec, plan::kRecEndReq); ++req) {
    const int req0 = rec_word(rec, plan::kRecBeginReq);  // re-read: nothing extra live across the loop
    if (t == 0) {
      // The Q tile, once both consumers released the previous chunk's (their last Q*K^T).
      const plan::TileMap& tm = p.tiles;
      const int j0 = plan::tile_first_token(tm, tile), h0 = plan::tile_first_head(tm, tile);
      const uint32_t chunk = req - req0;
      if (chunk > 0) ptx::mbar_wait(bars.q_empty(), (chunk - 1) & 1);
      ptx::mbar_arrive_expect_tx(bars.q_full(), kF8Boxes * kF8BoxCols * tm.heads * tm.tokens);
#pragma unroll
      for (int b = 0; b < kF8Boxes; ++b)
        ptx::tma_load_5d(tmap_q, smem_q + b * kF8BoxBytes, bars.q_full(), b * kF8BoxCols, h0, kvh, j0, req);
    }
    const int L = p.seqlens[req];
    const int n = plan::dense_items(L);
    const int pb = req == req0 ? rec_word(rec, plan::kRecBeginBlock) : 0;
    const int pe = req == rec_word(rec, plan::kRecEndReq) ? rec_word(rec, plan::kRecEndBlock) : n;
    // Pages in pairs (A, B), as the consumers take them; warp 0 reads the block table 32 entries at a
    // time (a pair never straddles two reads: pairs start at pb + even offsets).
    const int32_t* bt = p.block_table + static_cast<int64_t>(req) * p.stride_bt_b;
    int blk_lane = 0;
    for (int pg = pb; pg < pe; pg += 2) {
      const int k = (pg - pb) & 31;
      if (k == 0 && warp == 0) blk_lane = pg + lane < pe ? bt[pg + lane] : 0;
      const bool has_b = pg + 1 < pe;
      const int sa = kcount & 1, sb = sa ^ 1;
      const uint32_t ua = kcount >> 1, ub = (kcount + 1) >> 1;
      if (warp == 0) {
        const int blk_a = __shfl_sync(0xffffffffu, blk_lane, k);
        const int blk_b = __shfl_sync(0xffffffffu, blk_lane, k + 1);
        if (lane == 0) {
          load_page(tmap_k, bars, smem_k, sa, ua, kvh, blk_a);
          if (has_b) load_page(tmap_k, bars, smem_k, sb, ub, kvh, blk_b);
        }
      }
      transpose_page(bars, smem_k, smem_vt, sa, ua, min(kPageTokens, L - pg * kPageTokens), warp, lane);
      if (has_b)
        transpose_page(bars, smem_k, smem_vt, sb, ub, min(kPageTokens, L - (pg + 1) * kPageTokens), warp, lane);
      kcount += has_b ? 2 : 1;
    }
  }
}

// The consumer loop's policy (decode_dense_common/consumer_loop.cuh) for e4m3 pages and an e4m3 P in two
// terms: P = hi + lo, hi = e4m3(p'), lo = e4m3(p' - hi), both multiplied into the same accumulator
// (twice the P*V k-steps): relative error <= 2^-8 + 2^-11 per probability instead of 2^-4 for one
// e4m3 term, which misses the cosine bar on diffuse attention (docs/dense_fp8.md "error bound"; one
// term measured 0.95x the time on the H200).
struct ConsumerPolicy {
  static constexpr int kPTerms = 2;
  static constexpr int kPRegs = 8 * kPTerms;  // per term 2 k-steps x (2 rows x 2 halves) of 4 e4m3
  static constexpr bool kZeroVTail = false;   // the transposer zeroes V^T past the length
  static constexpr uint32_t kLoTile = 4096;   // the lo term's P tile, after the hi one (kPTerms = 2)
  // QGMMA's accumulator additions keep fewer bits than fp32: O moves into an fp32 carry every 64 pages
  // (consumer_loop.cuh's carry_o). H200, 2026-12-03: 64 instead of 32 pages is 0.88-0.97x the time on the
  // h64/h128 rows; one-chunk cosine distance 1.4e-5 / 1.9e-5 / 2.5e-5 at 16k / 32k / 64k keys (32 pages:
  // 7.6e-6 / 9.5e-6 / 1.2e-5; docs/dense_fp8.md).
  static constexpr int kCarryPages = 64;
  __device__ __forceinline__ static uint32_t carry_m_smem(uint32_t sbase, int c, int t) {
    return sbase + kSmemCarryM + 8 * (128 * c + t);
  }

  // S = Q K^T over 576 channels: 18 e4m3 k-steps of 32 channels, both operands K-major 128B-swizzled
  // boxes (a k-step = 32 B along the row); the fifth box holds channels 512..575 in its first half.
  __device__ __forceinline__ static void issue_qk(float (&s)[32], uint32_t q_smem, uint32_t k_smem,
                                                  const uint32_t (&)[16], uint32_t full_bar, uint32_t parity) {
    const uint64_t dq = ptx::desc_kmajor(q_smem), dk = ptx::desc_kmajor(k_smem);
    ptx::mbar_wait(full_bar, parity);
    ptx::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kQkSteps; ++kk) {
      const uint32_t off = (kk / 4) * kF8BoxBytes + (kk % 4) * 32;
      wgmma_m64n64k32_ss_e4m3(s, ptx::desc_advance(dq, off), ptx::desc_advance(dk, off), kk > 0);
    }
    ptx::wgmma_commit();
  }
  // Q's RoPE channels are in the smem tile with the rest.
  __device__ __forceinline__ static void load_q_rope(uint32_t (&qr)[16], const DenseFp8DecodeParams&, int,
                                                     const RowInfo (&)[2], int) {
#pragma unroll
    for (int i = 0; i < 16; ++i) qr[i] = 0;
  }
  __device__ __forceinline__ static float scale(const DenseFp8DecodeParams&, uint32_t sbase) {
    return ptx::ld_shared_f32(sbase + kSmemScale);
  }

  // Online softmax of one page (consumer.cuh's softmax_page, with p' = 2^8 p) into e4m3 A fragments:
  // pa[4 ks + 2 hi + r] (+ 8 for the lo term) = row r0 + 8 r, k positions 32 ks + 16 hi + 4 tq .. + 3 =
  // tokens 32 ks + 16 hi + {2tq, 2tq+1, 8+2tq, 9+2tq} (vt_layout.h's token_at), i.e. accumulator
  // column blocks j = 4 ks + 2 hi and j + 1. The row sums are those of the unrounded p'.
  __device__ __forceinline__ static void softmax(float (&s)[32], const float (&m_prev)[2], const float (&mx)[2],
                                                 float scale_log2, float (&m_new)[2], float (&f)[2],
                                                 float (&psum)[2], uint32_t (&pa)[kPRegs]) {
    float nb[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      m_new[r] = fmaxf(m_prev[r], mx[r]);
      const float base = m_new[r] == kNegInf ? 0.0f : m_new[r];
      f[r] = ptx::ex2(m_prev[r] - base);
      nb[r] = kPScaleLog2 - base;
      psum[r] = 0.0f;
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float pv = ptx::ex2(fmaf(s[4 * j + e], scale_log2, nb[e >> 1]));
        s[4 * j + e] = pv;
        psum[e >> 1] += pv;
      }
    }
#pragma unroll
    for (int ks = 0; ks < 2; ++ks) {
#pragma unroll
      for (int hi = 0; hi < 2; ++hi) {
        const int j = 4 * ks + 2 * hi;
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          const float x0 = s[4 * j + 2 * r], x1 = s[4 * j + 2 * r + 1];
          const float x2 = s[4 * j + 4 + 2 * r], x3 = s[4 * j + 5 + 2 * r];
          // In f16 (p' <= 256): h - e4m3(h) is exact (both within a factor 2), then rounded to e4m3.
          const uint32_t h01 = ptx::f32x2_to_f16x2(x0, x1), h23 = ptx::f32x2_to_f16x2(x2, x3);
          const uint32_t e01 = ptx::f16x2_to_e4m3x2(h01), e23 = ptx::f16x2_to_e4m3x2(h23);
          const uint32_t d01 = ptx::sub_f16x2(h01, ptx::e4m3x2_to_f16x2(static_cast<uint16_t>(e01)));
          const uint32_t d23 = ptx::sub_f16x2(h23, ptx::e4m3x2_to_f16x2(static_cast<uint16_t>(e23)));
          const uint32_t l01 = ptx::f16x2_to_e4m3x2(d01), l23 = ptx::f16x2_to_e4m3x2(d23);
          pa[4 * ks + 2 * hi + r] = e01 | (e23 << 16);
          pa[8 + 4 * ks + 2 * hi + r] = l01 | (l23 << 16);
        }
      }
    }
  }
  // P (64 rows x 64 k positions, e4m3) as a K-major 64B-swizzled tile (lo term: a second one at +4 KB)
  // for the other consumer's P*V: position chunk c (16 B) of row r at r * 64 + ((c ^ ((r / 2) % 4)) * 16).
  // A warp's store writes 8 rows x 16 B of one chunk: 8 distinct bank groups.
  __device__ __forceinline__ static void store_p(uint32_t p_tile, const uint32_t (&pa)[kPRegs], int r0, int tq) {
    const int sw = (r0 >> 1) & 3;  // r0 + 8 has the same phase
#pragma unroll
    for (int term = 0; term < kPTerms; ++term) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const uint32_t addr = p_tile + term * kLoTile + r0 * 64 + ((c ^ sw) << 4) + 4 * tq;
        ptx::st_shared(addr, pa[8 * term + 2 * c]);               // row r0
        ptx::st_shared(addr + 8 * 64, pa[8 * term + 2 * c + 1]);  // row r0 + 8
      }
    }
  }
  // O_half += P V^T_half (fresh: O_half = P V^T_half, after a carry flush): B = V^T rows [256 half, +256)
  // (no swizzle, LBO 128, SBO 528), 2 k-steps of 32 per P term.
  __device__ __forceinline__ static void pv_rs(float (&o)[128], const uint32_t (&pa)[kPRegs], uint32_t vt, int half,
                                               bool fresh) {
    const uint64_t dv = ptx::make_desc_mode(vt + half * kVtHalfBytes, kVtChunkBytes, kVtGroupBytes, 0);
    ptx::wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < 2; ++ks) {
#pragma unroll
      for (int term = 0; term < kPTerms; ++term) {
        const int i = 8 * term + 4 * ks;
        const uint32_t a[4] = {pa[i], pa[i + 1], pa[i + 2], pa[i + 3]};
        wgmma_m64n256k32_rs_e4m3(o, a, ptx::desc_advance(dv, ks * 2 * kVtChunkBytes), !(fresh && ks + term == 0));
      }
    }
    ptx::wgmma_commit();
  }
  __device__ __forceinline__ static void pv_ss(float (&o)[128], uint32_t p_tile, uint32_t vt, int half, bool fresh) {
    const uint64_t dv = ptx::make_desc_mode(vt + half * kVtHalfBytes, kVtChunkBytes, kVtGroupBytes, 0);
    const uint64_t dp = ptx::make_desc_mode(p_tile, 16, 512, 2);
    ptx::wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < 2; ++ks) {
#pragma unroll
      for (int term = 0; term < kPTerms; ++term)
        wgmma_m64n256k32_ss_e4m3(o, ptx::desc_advance(dp, term * kLoTile + ks * 32),
                                 ptx::desc_advance(dv, ks * 2 * kVtChunkBytes), !(fresh && ks + term == 0));
    }
    ptx::wgmma_commit();
  }
  __device__ __forceinline__ static uint32_t k_stage(uint32_t smem_k, int st) { return smem_k + st * kF8TileBytes; }
  __device__ __forceinline__ static uint32_t v_stage(uint32_t, uint32_t sbase, int st) {
    return sbase + kSmemVt + st * kVtStageBytes;
  }
  // Both P*Vs of a page wait for the transposer's half (one try_wait once it has completed).
  __device__ __forceinline__ static void wait_own_v(const SmemBarriers& bars, int st, int first_box, uint32_t parity) {
    ptx::mbar_wait(bars.vt_full(st, first_box == 0 ? 0 : 1), parity);
  }
  __device__ __forceinline__ static void wait_other_page(const SmemBarriers& bars, int st, int first_box,
                                                         uint32_t parity) {
    wait_own_v(bars, st, first_box, parity);
  }
  __device__ __forceinline__ static int epilogue_r0(int r0) { return dense_common::opaque_r0(r0); }
  // l holds sums of p' = 2^8 p: the real row sums are l / 2^8 (for the LSE), and O_real = descale_k *
  // O / l = (descale_k / 2^8) * O / (l / 2^8).
  __device__ __forceinline__ static void store_output(const DenseFp8DecodeParams& p, const float (&o)[128],
                                                      const float (&m)[2], const float (&l)[2],
                                                      const RowInfo (&rows)[2], int req, bool split, int slot, int c,
                                                      int tq, uint32_t sbase) {
    const float lr[2] = {l[0] * kPScaleInv, l[1] * kPScaleInv};
    dense_common::store_output<false>(p, o, m, lr, rows, req, split, slot, c, tq,
                                      ptx::ld_shared_f32(sbase + kSmemDescale) * kPScaleInv);
  }
};

__global__ void __launch_bounds__(kThreads, 1)
    dense_fp8q_decode_kernel(const __grid_constant__ CUtensorMap tmap_q, const __grid_constant__ CUtensorMap tmap_k,
                             const __grid_constant__ DenseFp8DecodeParams p) {
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = ptx::align_1024(smem_raw);
  const int tile = blockIdx.x, kvh = blockIdx.y;
  const int32_t* rec = p.sched + blockIdx.z * plan::kRecordInts;

  // Invalid lengths: no CTA writes anything, the status word tells the combine kernel (seesaw.cuh).
  if (!cta_has_work(p, rec)) return;

  const uint32_t sbase = ptx::smem_addr(smem);
  const uint32_t smem_q = sbase + kSmemQ8, smem_k = sbase + kSmemK8, smem_vt = sbase + kSmemVt;
  const SmemBarriers bars{sbase + kSmemBars};
  if (threadIdx.x == 0) {
    ptx::mbar_init(bars.q_full(), 1);   // the TMA issuer's expect_tx
    ptx::mbar_init(bars.q_empty(), 2);  // one arrival per consumer warpgroup
    for (int s = 0; s < kKStages; ++s) {
      ptx::mbar_init(bars.k_full(s, 0), 1);
      ptx::mbar_init(bars.kst_empty(s), 1 + kProducerThreads);  // Q*K^T's consumer + every transposer
      for (int h = 0; h < 2; ++h) {
        ptx::mbar_init(bars.vt_full(s, h), kProducerThreads);
        ptx::mbar_init(bars.vt_empty(s, h), 1);  // the half's consumer
      }
    }
    ptx::mbar_init(bars.epilogue(), 256);
    ptx::mbar_init(bars.p0_ready(), 128);
    ptx::mbar_init(bars.p1_ready(), 128);
    ptx::fence_barrier_init();
    const float descale_k = __ldg(p.descale_k), descale_q = __ldg(p.descale_q);
    *reinterpret_cast<float*>(smem + kSmemScale) = p.scale_log2 * (descale_q * descale_k);
    *reinterpret_cast<float*>(smem + kSmemDescale) = descale_k;
  }
  __syncthreads();
  kernels::launch_dependents();

  const int wg = threadIdx.x / 128;
  if (wg == 0) {
    ptx::setmaxnreg_dec<kFp8qProducerRegs>();
    producer_loop(&tmap_q, &tmap_k, p, rec, tile, kvh, smem_q, smem_k, smem_vt, bars);
    return;
  }
  ptx::setmaxnreg_inc<kFp8qConsumerRegs>();

  consumer_loop<ConsumerPolicy>(p, rec, tile, kvh, wg - 1, smem, smem_q, smem_k, bars);
}

}  // namespace flashmla::sm90::dense_fp8q
