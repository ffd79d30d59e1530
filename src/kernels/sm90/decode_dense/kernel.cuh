// Dense MLA decode split kernel for sm_90a (H100/H800/H200/H20).
//
// Grid: (M tiles, h_kv, num_sm_parts). CTA (tile, g, p) computes query rows `tile` (a box of tokens x
// heads, see plan::TileMap) of KV head g for every request chunk that schedule partition p owns: a
// contiguous run of (request, page range) pieces. A request covered whole writes its final O and LSE;
// a piece of a split request writes an fp32 partial O (normalised) + LSE into its workspace slot, and
// the combine kernel merges the slots.
//
// Warpgroup roles (384 threads):
//   WG0, producer (40 regs): one thread walks the same chunk sequence and issues TMA: per chunk the
//     Q NoPE tile (8 boxes of 64 x 64), per page the 64 x 576 page as 9 boxes into one of two stages,
//     in box groups as the consumers release them. The block table is read 32 entries at a time by
//     the warp.
//   WG1 ("consumer 0") and WG2 ("consumer 1"), 232 regs each, own O[:, 0:256] and O[:, 256:512].
//     Pages are taken in pairs (A, B) -- a "seesaw": consumer 0 computes S = Q K_A^T, its softmax and
//     P_A while consumer 1 computes S = Q K_B^T; the running max flows 0 -> 1 -> 0 through smem so both
//     O halves rescale identically:
//       c0: S_A = QK_A; m_A = max(m, rowmax S_A); P_A -> smem; O_L = O_L*f_A + P_A V_A[:, :256]
//       c1: S_B = QK_B; (wait P_A) m_B = max(m_A, rowmax S_B); P_B -> smem;
//           O_R = O_R*f_A + P_A V_A[:, 256:]; O_R = O_R*f_B + P_B V_B[:, 256:]
//       c0: (wait P_B) O_L = O_L*f_B + P_B V_B[:, :256]
//     so one warpgroup's softmax overlaps the other's tensor-core work.
// Shared memory (config.h): Q 64 KB + 2 K stages x 72 KB + 2 P tiles x 8 KB + row exchange 1.5 KB.
// Q's 64 RoPE channels are loaded into registers (A operand of the first 4 k-steps), which is what lets
// two full K stages and both P tiles fit in 227 KB.
// Pipeline: 2 K stages; each box group (RoPE box, boxes 0-3, boxes 4-7) has its own full mbarrier
// (one expect_tx for the group's TMA boxes; Q*K^T waits group by group, RoPE first) and its own empty
// mbarrier, released by the group's last reader:
//                 page A (consumer 0's Q*K^T)       page B (consumer 1's Q*K^T)
//   RoPE box 8    consumer 0 after Q*K_A^T          consumer 1 after Q*K_B^T
//   boxes 0-3     consumer 0 after P_A V_A[:, :256]  consumer 0 after P_B V_B[:, :256]
//   boxes 4-7     consumer 1 after P_A V_A[:, 256:]  consumer 1 after P_B V_B[:, 256:]
// so the next pair's loads start group by group while the current pair is still being consumed
// (a whole-stage release would wait for both consumers' last P*V). Page A is free by mid-iteration,
// page B only at the end of it. Budget: 2 x 3 full + 2 x 3 empty + 2 Q + 1 epilogue + 2 P-ready mbarriers = 136 B.
// (Per-box full barriers, 9 per stage, measured 2 % slower on the H200: 9 try_wait loops and 9
// wgmma fences per Q*K^T against 3; docs/perf-log.md §14.)
// Q is released (q_empty) after each consumer's last Q*K^T of the chunk, so the next chunk's Q load
// overlaps the current chunk's tail.
#pragma once

#include <cuda.h>

#include "common/split_plan.h"
#include "common/tile_map.h"
#include "kernels/common/pdl.cuh"
#include "kernels/sm90/decode_dense/config.h"
#include "kernels/sm90/decode_dense/mainloop.cuh"
#include "kernels/sm90/decode_dense/params.h"
#include "kernels/sm90/decode_dense_common/rows.cuh"
#include "kernels/sm90/decode_dense_common/seesaw.cuh"
#include "kernels/sm90/ptx.cuh"

namespace flashmla::sm90::dense {

// mbarrier addresses: q_full, q_empty, then k_full[stage][group], then k_empty[stage][group] (8 B
// each). Stage indices are run-time values, so these are computed, not looked up in an array (which
// would live in local memory).
struct SmemBarriers {
  uint32_t base;
  __device__ uint32_t q_full() const { return base; }
  __device__ uint32_t q_empty() const { return base + 8; }
  __device__ uint32_t k_full(int s, int group) const { return base + 16 + 8 * (s * kNumGroups + group); }
  __device__ uint32_t k_empty(int s, int group) const {
    return base + 16 + 8 * (kStages * kNumGroups + s * kNumGroups + group);
  }
  // The consumers' epilogue row-sum exchange (256 arrivals, one phase per chunk).
  __device__ uint32_t epilogue() const { return base + 16 + 8 * (2 * kStages * kNumGroups); }
  // Consumer 1 -> 0: P_B, m_B and f_B are in smem (128 arrivals, one phase per page B; seesaw.cuh).
  __device__ uint32_t p1_ready() const { return epilogue() + 8; }
  // Consumer 0 -> 1: P_A, m_A and f_A are in smem (128 arrivals, one phase per pair).
  __device__ uint32_t p0_ready() const { return epilogue() + 16; }
};

// One box group of a page into stage st: waits until the group's last reader released it (use > 0),
// then one TMA per box, all completing the group's full barrier (one expect_tx for the group's bytes).
__device__ __forceinline__ void load_group(const CUtensorMap* tmap_k, const SmemBarriers& bars, uint32_t stage_smem,
                                           int st, uint32_t use, int group, int first, int count, int kvh, int blk) {
  if (use > 0) ptx::mbar_wait(bars.k_empty(st, group), (use - 1) & 1);
  ptx::mbar_arrive_expect_tx(bars.k_full(st, group), count * kBoxBytes);
  for (int b = first; b < first + count; ++b)
    ptx::tma_load_4d(tmap_k, stage_smem + b * kBoxBytes, bars.k_full(st, group), b * kBoxCols, 0, kvh, blk);
}

// The producer: a single warp. Issues exactly the loads the consumers consume.
__device__ __forceinline__ void producer_loop(const CUtensorMap* tmap_q, const CUtensorMap* tmap_k,
                                              const DenseDecodeParams& p, const int32_t* rec, int tile, int kvh,
                                              uint32_t smem_q, uint32_t smem_k, const SmemBarriers& bars) {
  const int lane = threadIdx.x & 31;
  const plan::TileMap& tm = p.tiles;
  const int j0 = plan::tile_first_token(tm, tile), h0 = plan::tile_first_head(tm, tile);
  const uint32_t q_bytes = kQBoxes * 128u * tm.heads * tm.tokens;
  if (lane == 0) {
    ptx::prefetch_tensormap(tmap_q);
    ptx::prefetch_tensormap(tmap_k);
  }
  uint32_t kcount = 0, chunk = 0;
  for (int req = rec[plan::kRecBeginReq]; req <= rec[plan::kRecEndReq]; ++req, ++chunk) {
    const int n = plan::dense_items(p.seqlens[req]);
    const int pb = req == rec[plan::kRecBeginReq] ? rec[plan::kRecBeginBlock] : 0;
    const int pe = req == rec[plan::kRecEndReq] ? rec[plan::kRecEndBlock] : n;
    if (lane == 0) {
      if (chunk > 0) ptx::mbar_wait(bars.q_empty(), (chunk - 1) & 1);
      ptx::mbar_arrive_expect_tx(bars.q_full(), q_bytes);
#pragma unroll
      for (int b = 0; b < kQBoxes; ++b)
        ptx::tma_load_5d(tmap_q, smem_q + b * kBoxBytes, bars.q_full(), b * kBoxCols, h0, kvh, j0, req);
    }
    // Pages go in pairs (A, B), as the consumers take them. The block table is read 32 entries at
    // a time by the warp (a pair never straddles two reads: both start at pb + even offsets). Groups
    // are issued in the order the consumers release them, so no load waits behind a later one:
    // A rope, B rope, A low, A high, B low, B high.
    const int32_t* bt = p.block_table + static_cast<int64_t>(req) * p.stride_bt_b;
    for (int base = pb; base < pe; base += 32) {
      const int idx = base + lane;
      const int blk_lane = idx < pe ? bt[idx] : 0;
      const int cnt = min(32, pe - base);
      for (int k = 0; k < cnt; k += 2) {
        const int blk_a = __shfl_sync(0xffffffffu, blk_lane, k);
        const int blk_b = __shfl_sync(0xffffffffu, blk_lane, k + 1);
        const bool has_b = k + 1 < cnt;
        if (lane == 0) {
          const int sa = kcount & 1, sb = (kcount + 1) & 1;
          const uint32_t ua = kcount >> 1, ub = (kcount + 1) >> 1;
          const uint32_t da = smem_k + sa * kStageBytes, db = smem_k + sb * kStageBytes;
          load_group(tmap_k, bars, da, sa, ua, kGroupRope, kRopeBox, 1, kvh, blk_a);
          if (has_b) load_group(tmap_k, bars, db, sb, ub, kGroupRope, kRopeBox, 1, kvh, blk_b);
          load_group(tmap_k, bars, da, sa, ua, kGroupLo, 0, 4, kvh, blk_a);
          load_group(tmap_k, bars, da, sa, ua, kGroupHi, 4, 4, kvh, blk_a);
          if (has_b) {
            load_group(tmap_k, bars, db, sb, ub, kGroupLo, 0, 4, kvh, blk_b);
            load_group(tmap_k, bars, db, sb, ub, kGroupHi, 4, 4, kvh, blk_b);
          }
        }
        kcount += has_b ? 2 : 1;
      }
    }
  }
}

// make_rows, load_q_rope, store_output: decode_dense_common/rows.cuh.

template <bool kFp16>
__global__ void __launch_bounds__(kThreads, 1)
    dense_decode_kernel(const __grid_constant__ CUtensorMap tmap_q, const __grid_constant__ CUtensorMap tmap_k,
                        const __grid_constant__ DenseDecodeParams p) {
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  const int tile = blockIdx.x, kvh = blockIdx.y;
  const int32_t* rec = p.sched + blockIdx.z * plan::kRecordInts;

  // Invalid lengths: no CTA writes anything, the status word tells the combine kernel (seesaw.cuh).
  if (!cta_has_work(p, rec)) return;

  const uint32_t smem_q = ptx::smem_addr(smem + kSmemQ), smem_k = ptx::smem_addr(smem + kSmemK);
  const SmemBarriers bars{ptx::smem_addr(smem + kSmemBars)};
  if (threadIdx.x == 0) {
    ptx::mbar_init(bars.q_full(), 1);
    ptx::mbar_init(bars.q_empty(), 2);  // one arrival per consumer warpgroup
    for (int s = 0; s < kStages; ++s) {
      for (int g = 0; g < kNumGroups; ++g) ptx::mbar_init(bars.k_full(s, g), 1);  // the producer's expect_tx
      for (int g = 0; g < kNumGroups; ++g) ptx::mbar_init(bars.k_empty(s, g), 1);  // one releasing consumer
    }
    ptx::mbar_init(bars.epilogue(), 256);  // every consumer thread
    ptx::mbar_init(bars.p0_ready(), 128);  // every consumer-0 thread, once per page A
    ptx::mbar_init(bars.p1_ready(), 128);  // every consumer-1 thread, once per page B
    ptx::fence_barrier_init();
  }
  __syncthreads();
  // The combine kernel (launched behind this one with programmatic stream serialization) may be
  // scheduled now; it waits for this grid's completion before reading anything it writes.
  kernels::launch_dependents();

  const int wg = threadIdx.x / 128;
  if (wg == 0) {
    ptx::setmaxnreg_dec<kProducerRegs>();
    if (threadIdx.x < 32) producer_loop(&tmap_q, &tmap_k, p, rec, tile, kvh, smem_q, smem_k, bars);
    return;
  }
  ptx::setmaxnreg_inc<kConsumerRegs>();

  const int c = wg - 1;  // consumer index
  const int t = threadIdx.x & 127, tq = t & 3;
  const int r0 = (t >> 5) * 16 + ((t & 31) >> 2);
  // Shared-memory addresses of the row exchange arrays (f32 [2][64] each) and the two P tiles.
  const uint32_t sbase = ptx::smem_addr(smem);
  const RowExchange rx{sbase};
  const uint32_t p_tile0 = sbase + kSmemP0, p_tile1 = sbase + kSmemP1;

  float o[128];
  uint32_t kcount = 0, chunk = 0, iter_global = 0;
  for (int req = rec[plan::kRecBeginReq]; req <= rec[plan::kRecEndReq]; ++req, ++chunk) {
    const int L = p.seqlens[req];
    const int n = plan::dense_items(L);
    const int pb = req == rec[plan::kRecBeginReq] ? rec[plan::kRecBeginBlock] : 0;
    const int pe = req == rec[plan::kRecEndReq] ? rec[plan::kRecEndBlock] : n;

    // Only the two key limits stay live through the main loop; the rest of the row geometry is
    // recomputed for the epilogue (keeping it would cost registers the accumulators need).
    int limit[2];
    uint32_t qr[16];
    {
      RowInfo rows[2];
      make_rows(rows, p, tile, kvh, r0, L);
      load_q_rope(qr, p, req, rows, tq);
      limit[0] = rows[0].limit;
      limit[1] = rows[1].limit;
    }

    float m_run[2] = {kNegInf, kNegInf}, l_acc[2] = {0.0f, 0.0f};
#pragma unroll
    for (int i = 0; i < 128; ++i) o[i] = 0.0f;
    ptx::mbar_wait(bars.q_full(), chunk & 1);
    if (pb == pe && t == 0) ptx::mbar_arrive(bars.q_empty());

    for (int pg = pb; pg < pe; pg += 2, ++iter_global) {
      const bool has_b = pg + 1 < pe;
      const bool last = pg + 2 >= pe;
      const uint32_t kA = kcount, kB = kcount + 1;
      kcount += has_b ? 2 : 1;
      const int sA = kA & 1, sB = kB & 1;
      const uint32_t phA = (kA >> 1) & 1, phB = (kB >> 1) & 1;
      const uint32_t kA_addr = smem_k + sA * kStageBytes, kB_addr = smem_k + sB * kStageBytes;
      float s[32];
      uint32_t pa[16];
      float m_new[2], f[2], psum[2];

      if (c == 0) {
        // ---- consumer 0: page A scores and softmax, O_L += P_A V_A, then O_L += P_B V_B ----------
        // Releases: A's RoPE box after Q*K_A^T, A's and B's low boxes after each P*V_L.
        issue_qk<kFp16>(s, smem_q, kA_addr, qr, bars.k_full(sA, 0), phA);
        drain_and_release(s, bars.k_empty(sA, kGroupRope), t);
        if (last && t == 0) ptx::mbar_arrive(bars.q_empty());

        mask_scores(s, pg * kPageTokens, limit[0], limit[1], tq);
        float mx[2];
        page_row_max(s, p.scale_log2, mx);
        softmax_page<kFp16>(s, m_run, mx, p.scale_log2, m_new, f, psum, pa);
        l_acc[0] = l_acc[0] * f[0] + psum[0];
        l_acc[1] = l_acc[1] * f[1] + psum[1];
        const bool tail = (pg + 1) * kPageTokens > L;
        if (tail) zero_v_tail(kA_addr, L - pg * kPageTokens, t);

        if (iter_global > 0) ptx::bar_sync(kBarP0Free, 256);
        publish_p(rx, 0, p_tile0, pa, m_new, f, r0, tq, bars.p0_ready());  // P_A, m_A, f_A for consumer 1
        if (tail) ptx::bar_sync(kBarWg0, 128);

        scale_rows(o, f[0], f[1]);
        issue_pv_rs<kFp16>(o, pa, kA_addr, 0);
        if (has_b) {
          // B's boxes were waited for by consumer 1 (its Q*K_B^T) before it arrived on p1_ready.
          // P_B's phase = the number of earlier pages B: every earlier pair took 2 pages, every earlier
          // lone page A (a chunk's odd last page) 1, so kA - iter_global of them had a page B.
          ptx::mbar_wait(bars.p1_ready(), (kA - iter_global) & 1);
          float fb[2];
          read_p_stats(rx, 1, r0, m_new, fb);
          l_acc[0] *= fb[0];
          l_acc[1] *= fb[1];
          drain_and_release(o, bars.k_empty(sA, kGroupLo), t);
          scale_rows(o, fb[0], fb[1]);
          issue_pv_ss<kFp16>(o, p_tile1, kB_addr, 0);
          // Drained here rather than behind the next Q*K^T: B's low boxes are what consumer 1's next
          // Q*K^T waits for, and a wait_group 1 across iterations makes ptxas serialize every WGMMA.
          drain_and_release(o, bars.k_empty(sB, kGroupLo), t);
        } else {
          drain_and_release(o, bars.k_empty(sA, kGroupLo), t);
        }
        m_run[0] = m_new[0];
        m_run[1] = m_new[1];
      } else {
        // ---- consumer 1: page B scores and softmax, O_R += P_A V_A + P_B V_B ---------------------
        // Releases: B's RoPE box after Q*K_B^T, A's and B's high boxes after each P*V_R.
        if (has_b) {
          issue_qk<kFp16>(s, smem_q, kB_addr, qr, bars.k_full(sB, 0), phB);
          drain_and_release(s, bars.k_empty(sB, kGroupRope), t);
        }
        if (last && t == 0) ptx::mbar_arrive(bars.q_empty());
        float mx[2];
        if (has_b) {  // the row maxima of S_B need nothing from consumer 0
          mask_scores(s, (pg + 1) * kPageTokens, limit[0], limit[1], tq);
          page_row_max(s, p.scale_log2, mx);
        }

        ptx::mbar_wait(bars.p0_ready(), iter_global & 1);  // every iteration has a page A
        float ma[2], fa[2];
        read_p_stats(rx, 0, r0, ma, fa);
        if (has_b) {
          softmax_page<kFp16>(s, ma, mx, p.scale_log2, m_new, f, psum, pa);
          l_acc[0] = l_acc[0] * fa[0] * f[0] + psum[0];
          l_acc[1] = l_acc[1] * fa[1] * f[1] + psum[1];
          const bool tail = (pg + 2) * kPageTokens > L;
          if (tail) zero_v_tail(kB_addr, L - (pg + 1) * kPageTokens, t);
          publish_p(rx, 1, p_tile1, pa, m_new, f, r0, tq, bars.p1_ready());  // P_B, m_B, f_B for consumer 0
          if (tail) ptx::bar_sync(kBarWg1, 128);
        } else {
          l_acc[0] *= fa[0];
          l_acc[1] *= fa[1];
          m_new[0] = ma[0];
          m_new[1] = ma[1];
        }
        scale_rows(o, fa[0], fa[1]);
        issue_pv_ss<kFp16>(o, p_tile0, kA_addr, 1);
        drain_and_release(o, bars.k_empty(sA, kGroupHi), t);
        ptx::bar_arrive(kBarP0Free, 256);  // P_A, m_A and f_A have all been read
        if (has_b) {
          scale_rows(o, f[0], f[1]);
          issue_pv_rs<kFp16>(o, pa, kB_addr, 1);
          drain_and_release(o, bars.k_empty(sB, kGroupHi), t);
        }
        m_run[0] = m_new[0];
        m_run[1] = m_new[1];
      }
    }

    // ---- epilogue of the chunk (every WGMMA of the chunk has completed) -----------------------------
    // Row sums: each consumer summed its own pages; both are relative to the same final max.
    float lsum[2];
    exchange_row_sums(rx, l_acc, lsum, c, r0, tq, bars.epilogue(), chunk);

    const int ns0 = p.split.num_splits[req], ns1 = p.split.num_splits[req + 1];
    const int slot = req == rec[plan::kRecBeginReq] ? rec[plan::kRecBeginSlot] : ns0;
    RowInfo rows[2];
    make_rows(rows, p, tile, kvh, r0, L);
    store_output<kFp16>(p, o, m_run, lsum, rows, req, ns1 - ns0 > 1, slot, c, tq);
  }
  if (c == 0 && iter_global > 0) ptx::bar_sync(kBarP0Free, 256);  // matches consumer 1's last arrive
}

}  // namespace flashmla::sm90::dense
