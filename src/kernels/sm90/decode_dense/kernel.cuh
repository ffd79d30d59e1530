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
#include "kernels/sm90/decode_dense/params.h"
#include "kernels/sm90/decode_dense_common/consumer_loop.cuh"
#include "kernels/sm90/decode_dense_common/issue_qk.cuh"
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

// What the shared consumer loop (decode_dense_common/consumer_loop.cuh) asks of this kernel.
template <bool kFp16>
struct ConsumerPolicy : dense_common::Bf16PagePolicy<kFp16> {
  __device__ __forceinline__ static void issue_qk(float (&s)[32], uint32_t q_smem, uint32_t k_smem,
                                                  const uint32_t (&qr)[16], uint32_t full_bars, uint32_t parity) {
    dense::issue_qk<kFp16>(s, q_smem, k_smem, qr, full_bars, parity);
  }
  __device__ __forceinline__ static void load_q_rope(uint32_t (&qr)[16], const DenseDecodeParams& p, int req,
                                                     const RowInfo (&rows)[2], int tq) {
    dense_common::load_q_rope(qr, p, req, rows, tq);
  }
  __device__ __forceinline__ static float scale(const DenseDecodeParams& p, uint32_t) { return p.scale_log2; }
  // No wait on the other consumer's page before a P*V that reads it: its owner waited for the group's
  // full barrier (TMA complete_tx: the bytes are in smem) before arriving on the ready mbarrier this
  // consumer waits on. (Re-waiting cost 8 try_wait loops per pair; dropping it measured neutral to
  // +1 % on the H200, docs/perf-log.md §14.)
  __device__ __forceinline__ static void wait_other_page(const SmemBarriers&, int, int, uint32_t) {}
  __device__ __forceinline__ static int epilogue_r0(int r0) { return r0; }
  __device__ __forceinline__ static void store_output(const DenseDecodeParams& p, const float (&o)[128],
                                                      const float (&m)[2], const float (&l)[2],
                                                      const RowInfo (&rows)[2], int req, bool split, int slot, int c,
                                                      int tq, uint32_t) {
    dense_common::store_output<kFp16>(p, o, m, l, rows, req, split, slot, c, tq);
  }
};

template <bool kFp16>
__global__ void __launch_bounds__(kThreads, 1)
    dense_decode_kernel(const __grid_constant__ CUtensorMap tmap_q, const __grid_constant__ CUtensorMap tmap_k,
                        const __grid_constant__ DenseDecodeParams p) {
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = ptx::align_1024(smem_raw);
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

  consumer_loop<ConsumerPolicy<kFp16>>(p, rec, tile, kvh, wg - 1, smem, smem_q, smem_k, bars);
}

}  // namespace flashmla::sm90::dense
