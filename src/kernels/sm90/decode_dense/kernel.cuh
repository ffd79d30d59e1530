// Dense MLA decode split kernel for sm_90a (H100/H800/H200/H20).
//
// Grid: (M tiles, h_kv, num_sm_parts). CTA (tile, g, p) computes query rows `tile` (a box of tokens x
// heads, see plan::TileMap) of KV head g for every request chunk that schedule partition p owns: a
// contiguous run of (request, page range) pieces. A request covered whole writes its final O and LSE;
// a piece of a split request writes an fp32 partial O (normalised) + LSE into its workspace slot, and
// the combine kernel merges the slots.
//
// Warpgroup roles (256 threads, no producer warpgroup):
//   WG0 ("consumer 0") and WG1 ("consumer 1"), up to 255 registers each, own O[:, 0:256] and
//     O[:, 256:512], and issue their own TMA (as FlashMLA does; until 2026-12-02 a third, producer
//     warpgroup did, perf-log §19). Before the loop thread 0 loads the first chunk's Q NoPE tile (8
//     boxes of 64 x 64) and pages 0 and 1 of the CTA's page sequence, each a 64 x 576 page as 9 boxes
//     into one of two stages. Afterwards whoever releases a box group of page k (its last reader, see
//     the table below) loads the same group of page k + 2 into it from its thread 0, right after the
//     WGMMAs that read it drained; the block id was read from the table one pair earlier.
//     Consumer 1 loads the next chunk's Q once both consumers' last Q*K^T of the chunk completed.
// Shared memory (config.h): Q 64 KB + 2 K stages x 72 KB + 2 P tiles x 8 KB + row exchange 1.5 KB.
// Q's 64 RoPE channels are loaded into registers (A operand of the first 4 k-steps), which is what lets
// two full K stages and both P tiles fit in 227 KB.
// Pipeline: 2 K stages; each box group (RoPE box, boxes 0-3, boxes 4-7) has its own full mbarrier
// (one expect_tx for the group's TMA boxes; Q*K^T waits group by group, RoPE first) and is reloaded
// by its last reader:
//                 page A (consumer 0's Q*K^T)       page B (consumer 1's Q*K^T)
//   RoPE box 8    consumer 0 after Q*K_A^T          consumer 1 after Q*K_B^T
//   boxes 0-3     consumer 0 after P_A V_A[:, :256]  consumer 0 after P_B V_B[:, :256]
//   boxes 4-7     consumer 1 after P_A V_A[:, 256:]  consumer 1 after P_B V_B[:, 256:]
// so the next pair's loads start group by group while the current pair is still being consumed
// (a whole-stage release would wait for both consumers' last P*V). Page A is free by mid-iteration,
// page B only at the end of it. Budget: 2 x 3 full + 1 Q + 1 epilogue + 2 P-ready mbarriers = 80 B
// (a group has exactly one releasing reader, who loads the next occupant itself: no empty barriers).
// (Per-box full barriers, 9 per stage, measured 2 % slower on the H200: 9 try_wait loops and 9
// wgmma fences per Q*K^T against 3; docs/perf-log.md §14.)
// The next chunk's Q load overlaps the current chunk's P*V and epilogue.
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

// mbarrier addresses: q_full, then k_full[stage][group], the epilogue and the two P hand-offs (8 B
// each). Stage indices are run-time values, so these are computed, not looked up in an array (which
// would live in local memory).
struct SmemBarriers {
  uint32_t base;
  __device__ uint32_t q_full() const { return base; }
  __device__ uint32_t k_full(int s, int group) const { return base + 8 + 8 * (s * kNumGroups + group); }
  // The consumers' epilogue row-sum exchange (256 arrivals, one phase per chunk).
  __device__ uint32_t epilogue() const { return base + 8 + 8 * (kStages * kNumGroups); }
  // Consumer 1 -> 0: P_B, m_B and f_B are in smem (128 arrivals, one phase per page B; seesaw.cuh).
  __device__ uint32_t p1_ready() const { return epilogue() + 8; }
  // Consumer 0 -> 1: P_A, m_A and f_A are in smem (128 arrivals, one phase per pair).
  __device__ uint32_t p0_ready() const { return epilogue() + 16; }
};

// The consumers' TMA issue (consumer_loop.cuh, Loader::kSelfLoad): one box group of a page, or a chunk's
// Q NoPE tile. Called by one thread; every group's full barrier takes one expect_tx for its bytes.
struct SelfLoader {
  static constexpr bool kSelfLoad = true;
  const CUtensorMap* tmap_q;
  const CUtensorMap* tmap_k;
  SmemBarriers bars;
  uint32_t smem_q, smem_k;
  uint32_t q_bytes;  // Q tile bytes: 8 boxes of (heads x tokens) rows
  int kvh, h0, j0;   // KV head, first head and first token of the tile

  // Box group `group` of block blk into stage st (the slot's previous occupant has been released).
  __device__ __forceinline__ void load_group(int st, int group, int blk) const {
    const int first = group == kGroupRope ? kRopeBox : (group == kGroupLo ? 0 : 4);
    const int count = group == kGroupRope ? 1 : 4;
    const uint32_t dst = smem_k + st * kStageBytes;
    ptx::mbar_arrive_expect_tx(bars.k_full(st, group), count * kBoxBytes);
    for (int b = first; b < first + count; ++b)
      ptx::tma_load_4d(tmap_k, dst + b * kBoxBytes, bars.k_full(st, group), b * kBoxCols, 0, kvh, blk);
  }
  // The page's three groups, RoPE first (the order Q*K^T waits for them).
  __device__ __forceinline__ void load_page(int st, int blk) const {
    load_group(st, kGroupRope, blk);
    load_group(st, kGroupLo, blk);
    load_group(st, kGroupHi, blk);
  }
  __device__ __forceinline__ void load_q(int req) const {
    ptx::mbar_arrive_expect_tx(bars.q_full(), q_bytes);
#pragma unroll
    for (int b = 0; b < kQBoxes; ++b)
      ptx::tma_load_5d(tmap_q, smem_q + b * kBoxBytes, bars.q_full(), b * kBoxCols, h0, kvh, j0, req);
  }
};

// make_rows, load_q_rope, store_output: decode_dense_common/rows.cuh.

// What the shared consumer loop (decode_dense_common/consumer_loop.cuh) asks of this kernel.
template <bool kFp16_>
struct ConsumerPolicy {
  static constexpr bool kFp16 = kFp16_;
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
__global__ void __launch_bounds__(kDenseThreads, 1)
    dense_decode_kernel(const __grid_constant__ CUtensorMap tmap_q, const __grid_constant__ CUtensorMap tmap_k,
                        const __grid_constant__ DenseDecodeParams p) {
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  const int tile = blockIdx.x, kvh = blockIdx.y;
  const int32_t* rec = p.sched + blockIdx.z * plan::kRecordInts;

  // Invalid lengths: no CTA writes anything, the status word tells the combine kernel (seesaw.cuh).
  if (!cta_has_work<kDenseThreads>(p, rec)) return;

  const uint32_t smem_q = ptx::smem_addr(smem + kSmemQ), smem_k = ptx::smem_addr(smem + kSmemK);
  const SmemBarriers bars{ptx::smem_addr(smem + kSmemBars)};
  const plan::TileMap& tm = p.tiles;
  const SelfLoader ld{&tmap_q, &tmap_k, bars, smem_q, smem_k, static_cast<uint32_t>(kQBoxes * 128 * tm.heads * tm.tokens),
                      kvh, plan::tile_first_head(tm, tile), plan::tile_first_token(tm, tile)};
  if (threadIdx.x == 0) {
    ptx::mbar_init(bars.q_full(), 1);
    for (int s = 0; s < kStages; ++s)
      for (int g = 0; g < kNumGroups; ++g) ptx::mbar_init(bars.k_full(s, g), 1);  // the loader's expect_tx
    ptx::mbar_init(bars.epilogue(), 256);  // every thread
    ptx::mbar_init(bars.p0_ready(), 128);  // every consumer-0 thread, once per page A
    ptx::mbar_init(bars.p1_ready(), 128);  // every consumer-1 thread, once per page B
    ptx::fence_barrier_init();
    // The first chunk's Q and pages 0 and 1 of the page sequence; the consumers load the rest.
    const int req0 = rec[plan::kRecBeginReq];
    const int q0 = next_chunk_with_pages(p, rec, req0);
    if (q0 >= 0) {
      ld.load_q(q0);
      const int pe0 = chunk_end_page(p, rec, req0), pb0 = rec[plan::kRecBeginBlock];
      ld.load_page(0, page_after(p, rec, req0, pe0, pb0, 0));
      const int blk1 = page_after(p, rec, req0, pe0, pb0, 1);
      if (blk1 >= 0) ld.load_page(1, blk1);
    }
  }
  __syncthreads();
  // The combine kernel (launched behind this one with programmatic stream serialization) may be
  // scheduled now; it waits for this grid's completion before reading anything it writes.
  kernels::launch_dependents();

  consumer_loop<ConsumerPolicy<kFp16>>(p, rec, tile, kvh, threadIdx.x / 128, smem, smem_q, smem_k, bars, ld);
}

}  // namespace flashmla::sm90::dense
