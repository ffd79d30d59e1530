// Dense MLA decode split kernel over an FP8 (e4m3) KV cache with a bf16 q, for sm_90a: the accurate
// path (an e4m3 q runs on the FP8 tensor cores instead, decode_dense_fp8q/kernel.cuh).
//
// Grid: (M tiles, h_kv, num_sm_parts), exactly as the bf16 dense kernel: CTA (tile, g, p) computes
// query rows `tile` (plan::TileMap) of KV head g for every request chunk that schedule partition p
// owns; whole requests write O and LSE, pieces of split requests write fp32 partials to the workspace
// for the shared combine kernel.
//
// Accuracy design: e4m3 -> bf16 is exact, so the page is converted WITHOUT its scale and both GEMMs
// run on bf16 tensor cores with fp32 accumulation, as in the bf16 kernel. descale_k (read from device
// memory once per CTA: graph-safe, no host sync) is folded into the softmax scale (scores of the real
// keys, so the running max, the row sums and the LSE are those of the real scores) and into the output
// (O_real = descale_k * sum p v_stored / l). The only roundings beyond the CPU reference's are those of
// the bf16 kernel (P in bf16, fp32 accumulation order).
//
// Warpgroup roles (384 threads):
//   WG0, producer + converter (56 regs, 128 threads): thread 0 issues TMA (per chunk the bf16 Q NoPE
//     tile, 8 boxes of 64 x 64; per page, box group by box group, the
//     group's e4m3 boxes of 64 x 128 B into the group's own bf16 region, config.h); then all 128
//     threads convert the group in place into its bf16 boxes of 64 x 64 (convert.cuh) and publish it
//     on the group's full mbarrier (128 arrivals). Warp 0 reads the block table 32 entries at a time.
//   WG1 ("consumer 0") and WG2 ("consumer 1"), 224 regs each, own O[:, 0:256] and O[:, 256:512] and
//     take pages in pairs (A, B) in the bf16 kernel's "seesaw" (see decode_dense/kernel.cuh): c0 does
//     S_A, softmax A, O_L += P_A V_A; c1 does S_B, softmax B (after m_A), O_R += P_A V_A + P_B V_B; c0
//     finishes O_L += P_B V_B; running max and P exchanged through smem.
// Shared memory (config.h): Q 64 KB + 2 stages x 72 KB (fp8 staging inside) + 2 P tiles x 8 KB + row
// exchange 1.5 KB + 23 mbarriers and 2 scale words (384 B area) = 231 296 B + 1 KB alignment slack =
// 232 320 of 232 448 B.
// Pipeline: the bf16 kernel's box groups (RoPE box, boxes 0-3, boxes 4-7), each with its own release
// (k_empty, by its last reader), fp8 arrival (f8_full, TMA) and bf16 publication (k_full, converters).
// A group's fp8 bytes are staged inside the group's own region, so its load needs only that group
// released -- the RoPE boxes right after Q*K^T, page A's Lo / Hi mid-iteration -- not the whole page.
// Producer order per pair: TMA A rope, B rope, A lo, A hi; convert them; TMA B lo, B hi; convert those.
// No order can deadlock: a group's release never needs a later page's conversion.
// Masking: scores of keys past a row's limit -> -inf (select); V rows past the length zeroed in the
// bf16 stage before P*V (e4m3 NaN bytes in unused cache rows become bf16 NaN, and 0 * NaN = NaN).
#pragma once

#include <cuda.h>

#include "common/split_plan.h"
#include "common/tile_map.h"
#include "kernels/common/pdl.cuh"
#include "kernels/sm90/decode_dense_common/consumer_loop.cuh"
#include "kernels/sm90/decode_dense_common/issue_qk.cuh"
#include "kernels/sm90/decode_dense_common/rows.cuh"
#include "kernels/sm90/decode_dense_common/seesaw.cuh"
#include "kernels/sm90/decode_dense_fp8/config.h"
#include "kernels/sm90/decode_dense_fp8/convert.cuh"
#include "kernels/sm90/decode_dense_fp8/params.h"
#include "kernels/sm90/ptx.cuh"

namespace flashmla::sm90::dense_fp8 {

// mbarrier addresses (8 B each): q_full, q_empty, k_full[stage][group], f8_full[stage][group],
// k_empty[stage][group], epilogue, p1_ready, p0_ready. Computed, not looked up (stage indices
// are run-time values).
struct SmemBarriers {
  uint32_t base;
  __device__ uint32_t q_full() const { return base; }
  __device__ uint32_t q_empty() const { return base + 8; }
  // The converted bf16 group is in smem (128 converter arrivals; the consumers' Q*K^T and P*V wait).
  __device__ uint32_t k_full(int s, int g) const { return base + 16 + 8 * (s * kNumGroups + g); }
  // The group's fp8 bytes have landed (TMA; the converters wait).
  __device__ uint32_t f8_full(int s, int g) const { return base + 16 + 8 * ((kStages + s) * kNumGroups + g); }
  // The group's last reader is done with it (one arrival; the TMA issuer and the converters wait).
  __device__ uint32_t k_empty(int s, int g) const { return base + 16 + 8 * ((2 * kStages + s) * kNumGroups + g); }
  __device__ uint32_t epilogue() const { return base + 16 + 8 * (3 * kStages * kNumGroups); }
  // Consumer 1 -> 0: P_B, m_B and f_B are in smem (128 arrivals, one phase per page B; seesaw.cuh).
  __device__ uint32_t p1_ready() const { return epilogue() + 8; }
  // Consumer 0 -> 1: P_A, m_A and f_A are in smem (128 arrivals, one phase per pair).
  __device__ uint32_t p0_ready() const { return epilogue() + 16; }
};
static_assert(16 + 8 * (3 * kStages * kNumGroups) + 24 == 8 * kNumMbarriers, "mbarrier map = config.h's count");

// Thread 0: box group g of page `blk` (config.h's table) into its staging area in stage st, once the
// group's previous occupant (use = how many pages the stage held before) was released.
template <int kGroup>
__device__ __forceinline__ void load_group_fp8(const CUtensorMap* tmap_k, const SmemBarriers& bars, uint32_t stage_smem,
                                               int st, uint32_t use, int kvh, int blk) {
  if (use > 0) ptx::mbar_wait(bars.k_empty(st, kGroup), (use - 1) & 1);
  ptx::mbar_arrive_expect_tx(bars.f8_full(st, kGroup), group_f8_count(kGroup) * kF8BoxBytes);
#pragma unroll
  for (int i = 0; i < group_f8_count(kGroup); ++i)
    ptx::tma_load_4d(tmap_k, stage_smem + group_staging(kGroup) + i * kF8BoxBytes, bars.f8_full(st, kGroup),
                     (group_f8_first(kGroup) + i) * kF8BoxCols, 0, kvh, blk);
}

// Every converter thread also waits for the group's release before it writes (its generic writes
// replace bf16 data the consumers' WGMMAs read), then converts it and publishes it on k_full.
template <int kGroup>
__device__ __forceinline__ void convert_stage_group(const SmemBarriers& bars, uint32_t smem_k, int st, uint32_t use,
                                                    int t) {
  if (use > 0) ptx::mbar_wait(bars.k_empty(st, kGroup), (use - 1) & 1);
  convert_group<kGroup>(smem_k + st * kStageBytes, bars.f8_full(st, kGroup), bars.k_full(st, kGroup), use & 1, t);
}

// A schedule-record word re-read from memory (an L1 hit) wherever it is needed: the producer
// warpgroup runs on 56 registers and cannot keep the record's words live across the conversion.
__device__ __forceinline__ int rec_word(const int32_t* rec, int i) {
  int v;
  asm volatile("ld.global.nc.b32 %0, [%1];" : "=r"(v) : "l"(rec + i));
  return v;
}

// Thread 0: the bf16 Q NoPE tile of request `req` (8 boxes of 64 x 64), once the previous chunk's Q was
// released by both consumers. Rows past the tile's heads x tokens are not loaded (padding rows, never
// stored). Recomputes its coordinates (cold path, few registers).
__device__ __forceinline__ void load_q_tile(const CUtensorMap* tmap_q, const DenseFp8DecodeParams& p, int tile, int kvh,
                                            int req, uint32_t chunk, uint32_t smem_q, uint32_t q_bar, uint32_t q_empty) {
  const plan::TileMap& tm = p.tiles;
  const int j0 = plan::tile_first_token(tm, tile), h0 = plan::tile_first_head(tm, tile);
  if (chunk > 0) ptx::mbar_wait(q_empty, (chunk - 1) & 1);
  ptx::mbar_arrive_expect_tx(q_bar, 512u * tm.heads * tm.tokens * 2);
#pragma unroll
  for (int b = 0; b < kQBoxes; ++b)
    ptx::tma_load_5d(tmap_q, smem_q + b * kBoxBytes, q_bar, b * kBoxCols, h0, kvh, j0, req);
}

// The producer warpgroup (128 threads): walks the same chunk sequence as the consumers.
__device__ __forceinline__ void producer_loop(const CUtensorMap* tmap_q, const CUtensorMap* tmap_k,
                                              const DenseFp8DecodeParams& p, const int32_t* rec, int tile, int kvh,
                                              uint32_t smem_q, uint32_t smem_k, const SmemBarriers& bars) {
  // The thread index is re-read from %tid.x where needed (an S2R) rather than kept live: on 56 registers
  // ptxas would otherwise spill it across the conversion loops.
  auto tid = [] {
    uint32_t v;
    asm volatile("mov.u32 %0, %%tid.x;" : "=r"(v));
    return static_cast<int>(v & 127);
  };
  if (tid() == 0) {
    ptx::prefetch_tensormap(tmap_q);
    ptx::prefetch_tensormap(tmap_k);
  }
  uint32_t kcount = 0;
  const int req0 = rec_word(rec, plan::kRecBeginReq);
  for (int req = req0; req <= rec_word(rec, plan::kRecEndReq); ++req) {
    if (tid() == 0)
      load_q_tile(tmap_q, p, tile, kvh, req, req - rec_word(rec, plan::kRecBeginReq), smem_q, bars.q_full(),
                  bars.q_empty());
    // The chunk's page range (after the Q work: fewer values live across it).
    const int n = plan::dense_items(p.seqlens[req]);
    const int pb = req == rec_word(rec, plan::kRecBeginReq) ? rec_word(rec, plan::kRecBeginBlock) : 0;
    const int pe = req == rec_word(rec, plan::kRecEndReq) ? rec_word(rec, plan::kRecEndBlock) : n;
    // Pages go in pairs (A, B), as the consumers take them. Warp 0 reads the block table 32 entries at
    // a time (a pair never straddles two reads: pairs start at pb + even offsets); one flat loop keeps
    // the loop state small (this warpgroup runs on 56 registers).
    // Per pair, group by group in the order the consumers release them (decode_dense/kernel.cuh's
    // table): the TMAs of both RoPE boxes and of A's Lo / Hi groups (A's previous occupant is released
    // mid-iteration of the previous pair), then their conversions, and only then B's Lo / Hi (released
    // at the end of the previous pair): so page A is ready before the consumers reach it, and nothing
    // waits behind B's release but B itself.
    const int32_t* bt = p.block_table + static_cast<int64_t>(req) * p.stride_bt_b;
    int blk_lane = 0;
    for (int pg = pb; pg < pe; pg += 2) {
      const int k = (pg - pb) & 31;
      if (k == 0 && tid() < 32) blk_lane = pg + tid() < pe ? bt[pg + tid()] : 0;  // only warp 0 needs block ids
      const bool has_b = pg + 1 < pe;
      const int sa = kcount & 1, sb = sa ^ 1;
      const uint32_t ua = kcount >> 1, ub = (kcount + 1) >> 1;
      if (tid() < 32) {
        const int blk_a = __shfl_sync(0xffffffffu, blk_lane, k);
        const int blk_b = __shfl_sync(0xffffffffu, blk_lane, k + 1);
        if (tid() == 0) {
          const uint32_t da = smem_k + sa * kStageBytes, db = smem_k + sb * kStageBytes;
          load_group_fp8<kGroupRope>(tmap_k, bars, da, sa, ua, kvh, blk_a);
          if (has_b) load_group_fp8<kGroupRope>(tmap_k, bars, db, sb, ub, kvh, blk_b);
          load_group_fp8<kGroupLo>(tmap_k, bars, da, sa, ua, kvh, blk_a);
          load_group_fp8<kGroupHi>(tmap_k, bars, da, sa, ua, kvh, blk_a);
        }
      }
      convert_stage_group<kGroupRope>(bars, smem_k, sa, ua, tid());
      if (has_b) convert_stage_group<kGroupRope>(bars, smem_k, sb, ub, tid());
      convert_stage_group<kGroupLo>(bars, smem_k, sa, ua, tid());
      convert_stage_group<kGroupHi>(bars, smem_k, sa, ua, tid());
      if (has_b) {
        if (tid() < 32) {
          const int blk_b = __shfl_sync(0xffffffffu, blk_lane, k + 1);
          if (tid() == 0) {
            const uint32_t db = smem_k + sb * kStageBytes;
            load_group_fp8<kGroupLo>(tmap_k, bars, db, sb, ub, kvh, blk_b);
            load_group_fp8<kGroupHi>(tmap_k, bars, db, sb, ub, kvh, blk_b);
          }
        }
        convert_stage_group<kGroupLo>(bars, smem_k, sb, ub, tid());
        convert_stage_group<kGroupHi>(bars, smem_k, sb, ub, tid());
      }
      kcount += has_b ? 2 : 1;
    }
  }
}

// make_rows, load_q_rope and store_output: decode_dense_common/rows.cuh.

// What the shared consumer loop (decode_dense_common/consumer_loop.cuh) asks of this kernel.
struct ConsumerPolicy : dense_common::Bf16PagePolicy</*kFp16=*/false> {  // the converted page, P and Q: bf16
  __device__ __forceinline__ static void issue_qk(float (&s)[32], uint32_t q_smem, uint32_t k_smem,
                                                  const uint32_t (&qr)[16], uint32_t full_bars, uint32_t parity) {
    dense_common::issue_qk<false>(s, q_smem, k_smem, qr, full_bars, parity);
  }
  __device__ __forceinline__ static void load_q_rope(uint32_t (&qr)[16], const DenseFp8DecodeParams& p, int req,
                                                     const RowInfo (&rows)[2], int tq) {
    dense_common::load_q_rope(qr, p, req, rows, tq);
  }
  // Scores of the real keys: softmax_scale * log2(e) * descale_k, from smem at each use (config.h).
  __device__ __forceinline__ static float scale(const DenseFp8DecodeParams&, uint32_t sbase) {
    return ptx::ld_shared_f32(sbase + kSmemScale);
  }
  // The group of the other consumer's page that a P*V reads (boxes 0-3: Lo, 4-7: Hi): the data is
  // there (the P exchange orders it), but waiting on the group's full barrier is what makes the
  // converter's writes (generic proxy, fenced for the async proxy) visible to this warpgroup's WGMMA
  // reads under the memory model. One try_wait (the phase completed long ago).
  __device__ __forceinline__ static void wait_other_page(const SmemBarriers& bars, int st, int first_box,
                                                         uint32_t parity) {
    ptx::mbar_wait(bars.k_full(st, first_box == 0 ? kGroupLo : kGroupHi), parity);
  }
  __device__ __forceinline__ static int epilogue_r0(int r0) { return dense_common::opaque_r0(r0); }
  // V was multiplied in as the raw e4m3 values: O_real = descale_k * O, folded into the 1 / l factor.
  __device__ __forceinline__ static void store_output(const DenseFp8DecodeParams& p, const float (&o)[128],
                                                      const float (&m)[2], const float (&l)[2],
                                                      const RowInfo (&rows)[2], int req, bool split, int slot, int c,
                                                      int tq, uint32_t sbase) {
    dense_common::store_output<false>(p, o, m, l, rows, req, split, slot, c, tq,
                                      ptx::ld_shared_f32(sbase + kSmemDescale));
  }
};

__global__ void __launch_bounds__(kThreads, 1)
    dense_fp8_decode_kernel(const __grid_constant__ CUtensorMap tmap_q, const __grid_constant__ CUtensorMap tmap_k,
                            const __grid_constant__ DenseFp8DecodeParams p) {
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = ptx::align_1024(smem_raw);
  const int tile = blockIdx.x, kvh = blockIdx.y;
  const int32_t* rec = p.sched + blockIdx.z * plan::kRecordInts;

  // Invalid lengths: no CTA writes anything, the status word tells the combine kernel (seesaw.cuh).
  if (!cta_has_work(p, rec)) return;

  const uint32_t smem_q = ptx::smem_addr(smem + kSmemQ), smem_k = ptx::smem_addr(smem + kSmemK);
  const SmemBarriers bars{ptx::smem_addr(smem + kSmemBars)};
  if (threadIdx.x == 0) {
    ptx::mbar_init(bars.q_full(), 1);  // the TMA issuer's expect_tx
    ptx::mbar_init(bars.q_empty(), 2);  // one arrival per consumer warpgroup
    for (int s = 0; s < kStages; ++s)
      for (int g = 0; g < kNumGroups; ++g) {
        ptx::mbar_init(bars.k_full(s, g), kProducerThreads);  // every converter
        ptx::mbar_init(bars.f8_full(s, g), 1);                // the TMA issuer's expect_tx
        ptx::mbar_init(bars.k_empty(s, g), 1);                // the group's releasing consumer
      }
    ptx::mbar_init(bars.epilogue(), 256);
    ptx::mbar_init(bars.p0_ready(), 128);  // every consumer-0 thread, once per page A
    ptx::mbar_init(bars.p1_ready(), 128);  // every consumer-1 thread, once per page B
    ptx::fence_barrier_init();
    // descale_k is a device value (graph-safe): read here, once per CTA, published by __syncthreads.
    const float descale_k = __ldg(p.descale_k);
    *reinterpret_cast<float*>(smem + kSmemScale) = p.scale_log2 * descale_k;
    *reinterpret_cast<float*>(smem + kSmemDescale) = descale_k;
  }
  __syncthreads();
  kernels::launch_dependents();

  const int wg = threadIdx.x / 128;
  if (wg == 0) {
    ptx::setmaxnreg_dec<kFp8ProducerRegs>();
    producer_loop(&tmap_q, &tmap_k, p, rec, tile, kvh, smem_q, smem_k, bars);
    return;
  }
  ptx::setmaxnreg_inc<kFp8ConsumerRegs>();

  consumer_loop<ConsumerPolicy>(p, rec, tile, kvh, wg - 1, smem, smem_q, smem_k, bars);
}

}  // namespace flashmla::sm90::dense_fp8
