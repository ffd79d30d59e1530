// The producer warpgroup of the sm90 sparse decode (kernel.cuh): Q once, then per step (one 64-token
// block of the CTA's range) the block's indices -> token addresses (masked before any address is
// formed), the e4m3 NoPE bytes and scales loaded into REGISTERS, the bf16 RoPE bytes copied with
// cp.async, and the NoPE values dequantized into the step's bf16 K stage (128B-swizzled, the layout the
// consumers' WGMMAs read), plus the position-valid flags.
//
// Why registers and not a raw shared-memory stage: Q + two bf16 stages take 216 KB at d_qk 576, so no
// raw fp8 buffer fits; and a load into registers may be issued before the stage it converts into is
// free. Step i's loads are issued first, then the producer waits for the consumers to release stage
// i % 2 (step i - 2), so the gather latency overlaps that wait (64 registers of NoPE in flight; config.h:
// 120 registers for this warpgroup). When the producer is the bottleneck (h_q = 128 rows: ncu on the
// H200, 2026-12-02, the consumers wait on full[] most of the time) the latency is exposed once per step;
// loading one half-step ahead (rolling halves) would hide it but needs ~16 more registers than the 120
// left next to 192-register consumers (ptxas spills at 120 / 192 and at 136 / 184; docs/sparse_decode.md).
//
// Per step and thread: 4 rows x (4 NoPE loads of 16 B + 1 scale load + 1 RoPE cp.async), 16 x 16
// conversions (dequant.cuh: bf16(e4m3 * scale), exact as the CPU reference), 32 16-byte shared stores
// (conflict-free, config.h), one fence.proxy.async (generic stores -> the consumers' WGMMA reads), two
// arrivals on full[stage] (one plain, one cp.async.mbarrier.arrive.noinc that fires when the RoPE / Q
// copies landed). A CTA whose pools include one with a base or page stride only 8-byte aligned (MODEL1
// pages of odd size) runs the producer with 8-byte loads and copies (kNarrow; a uniform branch).
#pragma once

#include <cstdint>

#include "kernels/sm90/ptx.cuh"
#include "kernels/sm90/sparse_common/gather.cuh"
#include "kernels/sm90/sparse_common/pingpong.cuh"
#include "kernels/sm90/sparse_decode/config.h"
#include "kernels/sm90/sparse_decode/dequant.cuh"
#include "kernels/sm90/sparse_decode/params.h"

namespace flashmla::sm90::sparse_decode {

// The request's position list: blocks [0, blocks_main) come from the main pool, the rest from the extra
// pool; n_* are the valid lengths (topk_length clamped to [0, topk]).
struct BlockList {
  int blocks_main;
  int n_main, n_extra;
};

// This thread's lane in the piece map (config.h): rg = t % 16, sub = t / 16 (so warp w holds sub 2w,
// 2w + 1), a = sub / 2, e = sub % 2; piece k (< 4) of a row is p = 8a + 4e + k, channels 16p .. 16p + 15,
// in box p / 4 = 2a + e, swizzle chunks 2k and 2k + 1. The 8 lanes of a 16-byte store phase then are 8
// consecutive rows at the same chunk: the swizzle (chunk ^ row % 8) spreads them over the 8 slots,
// conflict-free (the first version put one row in a phase: 16-way conflicts in ncu).
// The thread's rows are row(i) = rg + 16 ((i + rot) % 4), i < 4: rot 0 for a lone CTA; in a 2-CTA pair
// CTA r has rot = 2r, so that its own half of the rows (the ones it converts for both CTAs, rows
// [32r, 32r + 32)) is always i = 0, 1 -- compile-time register indices.
struct Lane {
  int sub, rg, a, e, rot;
  template <class G>
  __device__ __forceinline__ bool has_nope() const { return 8 * a + 4 * e < G::kNopePieces; }  // MODEL1: sub 7 has none
  __device__ __forceinline__ int first_piece() const { return 8 * a + 4 * e; }
  __device__ __forceinline__ int row(int i) const { return rg + kProducerRowGroups * ((i + rot) & 3); }
};

// Indices of this thread's 4 rows of block `blk` (-1 past the pool's valid length: never read).
__device__ __forceinline__ void block_indices(const SparseDecodeParams& p, int64_t b, int64_t s, const BlockList& bl,
                                              int blk, const Lane& ln, int (&idx)[kProducerRowsPerThread]) {
  const bool extra = blk >= bl.blocks_main;
  const PoolParams& pool = p.pools[extra ? 1 : 0];
  const int pos0 = (extra ? blk - bl.blocks_main : blk) * kTokensPerBlock;
  const int n = extra ? bl.n_extra : bl.n_main;
  const int32_t* row = pool.indices + b * pool.stride_indices_b + s * pool.stride_indices_s;
#pragma unroll
  for (int i = 0; i < kProducerRowsPerThread; ++i) {
    const int pos = pos0 + ln.row(i);
    idx[i] = pos < n ? __ldg(row + static_cast<int64_t>(pos) * pool.stride_indices_k) : -1;
  }
}

template <bool kNarrow>
__device__ __forceinline__ uint4 load16(const uint8_t* src) {
  if constexpr (kNarrow) {
    const uint2 lo = sparse_common::ld_nc_v2(src), hi = sparse_common::ld_nc_v2(src + 8);
    return make_uint4(lo.x, lo.y, hi.x, hi.y);
  } else {
    return sparse_common::ld_nc_v4(src);
  }
}
template <bool kNarrow>
__device__ __forceinline__ void copy16(uint32_t dst, const uint8_t* src, bool valid) {
  if constexpr (kNarrow) {
    sparse_common::cp_async_8(dst, src, valid ? 8u : 0u);
    sparse_common::cp_async_8(dst + 8, src + 8, valid ? 8u : 0u);
  } else {
    sparse_common::cp_async_16(dst, src, valid ? 16u : 0u);
  }
}


// The addresses of one step's 4 rows (null: masked -- the index is range-checked before any address
// is formed): the data row, and the byte of the scale this lane needs (V32: 4-byte scale a inside the
// token row; MODEL1: e8m0 byte 2a + e of the token's scale row).
template <bool kV32>
struct StepRows {
  const uint8_t* data[kProducerRowsPerThread];
};
template <>
struct StepRows<false> {  // MODEL1: the scale row is separate (V32's scale is at data + 512 + 4a)
  const uint8_t* data[kProducerRowsPerThread];
  const uint8_t* scale[kProducerRowsPerThread];
};
template <class Fmt>
__device__ __forceinline__ void resolve(const PoolParams& pool, const int (&idx)[kProducerRowsPerThread], const Lane& ln,
                                        StepRows<Gather<Fmt>::kV32>& sr) {
#pragma unroll
  for (int r = 0; r < kProducerRowsPerThread; ++r) {
    const bool ok = idx[r] >= 0 && static_cast<int64_t>(idx[r]) < pool.num_tokens;
    const uint32_t u = ok ? static_cast<uint32_t>(idx[r]) : 0u;
    const uint32_t page = pool.page_shift >= 0 ? u >> pool.page_shift : u / static_cast<uint32_t>(pool.page_size);
    const uint32_t row = u - page * static_cast<uint32_t>(pool.page_size);
    const uint8_t* page_base = pool.cache + static_cast<int64_t>(page) * pool.page_stride;
    sr.data[r] = ok ? page_base + Fmt::data_offset(pool.page_size, row) : nullptr;
    if constexpr (!Gather<Fmt>::kV32) sr.scale[r] = page_base + Fmt::scale_offset(pool.page_size, row) + 2 * ln.a + ln.e;
  }
}

// NoPE loads and scale of row i of a step into v / sc (zeros for masked rows and pieces past the NoPE
// part: scale 0 (V32) / 2^-127 (MODEL1) times zero data = 0).
template <class Fmt, bool kNarrow>
__device__ __forceinline__ void issue_row(const StepRows<Gather<Fmt>::kV32>& sr, int i, const Lane& ln,
                                          uint4 (&v)[kPiecesPerRowThread], uint32_t& sc) {
  const uint8_t* src = sr.data[i];
#pragma unroll
  for (int k = 0; k < kPiecesPerRowThread; ++k) {
    v[k] = make_uint4(0u, 0u, 0u, 0u);
    if (src != nullptr && ln.has_nope<Gather<Fmt>>()) v[k] = load16<kNarrow>(src + 16 * (ln.first_piece() + k));
  }
  sc = 0u;
  if (src != nullptr) {
    if constexpr (Gather<Fmt>::kV32) sc = sparse_common::ld_nc_u32(src + Fmt::kScaleOffset + 4 * ln.a);
    else sc = sparse_common::ld_nc_u8(sr.scale[i]);
  }
}
// Rows 2h, 2h + 1.
template <class Fmt, bool kNarrow>
__device__ __forceinline__ void issue_half(const StepRows<Gather<Fmt>::kV32>& sr, int h, const Lane& ln, uint4 (&v)[2][kPiecesPerRowThread],
                                           uint32_t (&sc)[2]) {
#pragma unroll
  for (int j = 0; j < 2; ++j) issue_row<Fmt, kNarrow>(sr, 2 * h + j, ln, v[j], sc[j]);
}

// Row i of the step: dequantize and store into the stage's bf16 boxes; kPair: into the same place of
// the peer CTA's stage too (peer_stage: a shared::cluster address), by st.async counted on the peer's
// full[] barrier peer_full (32 bytes per piece: kPeerStageBytes in all).
template <class Fmt, bool kPair = false>
__device__ __forceinline__ void convert_row(const uint4 (&v)[kPiecesPerRowThread], uint32_t sc, int i, const Lane& ln,
                                            uint32_t stage, uint32_t peer_stage = 0, uint32_t peer_full = 0) {
  if (!ln.has_nope<Gather<Fmt>>()) return;
  const uint32_t box_off = (2 * ln.a + ln.e) * kBoxBytes;
  const int row = ln.row(i);
  float scale;
  if constexpr (Gather<Fmt>::kV32) scale = v32_scale(sc);
  else scale = e8m0_scale(sc);
#pragma unroll
  for (int k = 0; k < kPiecesPerRowThread; ++k) {
    uint32_t o[8];
    dequant16(v[k], scale, o);  // o[0..3] -> chunk 2k, o[4..7] -> chunk 2k + 1
    const uint32_t c0 = box_off + sparse_common::swizzled(row, 2 * k), c1 = box_off + sparse_common::swizzled(row, 2 * k + 1);
    ptx::st_shared_v4(stage + c0, o[0], o[1], o[2], o[3]);
    ptx::st_shared_v4(stage + c1, o[4], o[5], o[6], o[7]);
    if constexpr (kPair) {
      ptx::st_async_v4(peer_stage + c0, o[0], o[1], o[2], o[3], peer_full);
      ptx::st_async_v4(peer_stage + c1, o[4], o[5], o[6], o[7], peer_full);
    }
  }
}
// Rows 2h, 2h + 1 (a lone CTA).
template <class Fmt>
__device__ __forceinline__ void convert_half(const uint4 (&v)[2][kPiecesPerRowThread], const uint32_t (&sc)[2], int h,
                                             const Lane& ln, uint32_t stage) {
#pragma unroll
  for (int j = 0; j < 2; ++j) convert_row<Fmt>(v[j], sc[j], 2 * h + j, ln, stage);
}

// The step's RoPE parts (bf16 in the cache: cp.async, zero-filled for masked rows) of all 4 rows of the
// thread, chunk `sub` each, and the rows' valid flags (lanes sub == 0).
template <class Fmt, bool kNarrow>
__device__ __forceinline__ void rope_and_flags(const StepRows<Gather<Fmt>::kV32>& sr, const PoolParams& pool, const Lane& ln,
                                               uint32_t stage, uint32_t valid) {
  using G = Gather<Fmt>;
#pragma unroll
  for (int r = 0; r < kProducerRowsPerThread; ++r) {
    const int row = ln.row(r);
    const bool ok = sr.data[r] != nullptr;
    copy16<kNarrow>(stage + G::kRopeBox * kBoxBytes + sparse_common::swizzled(row, ln.sub),
                    ok ? sr.data[r] + G::kRopeByte + 16 * ln.sub : pool.cache, ok);
    if (ln.sub == 0) sparse_common::st_shared_u8(valid + row, ok ? 1u : 0u);
  }
}

// Thread t (0..127) of the producer warpgroup of a lone CTA over its `steps` (>= 1) blocks from
// blk_begin. Per step i (stage i % 2): resolve and load the step's 4 rows (NoPE + scales into
// registers), the next step's indices, [wait for the stage], RoPE copies + flags, convert both halves,
// full[stage].
template <class Fmt, bool kNarrow>
__device__ __forceinline__ void produce(const SparseDecodeParams& p, int64_t b, int64_t s, const BlockList& bl,
                                        int blk_begin, int steps, uint32_t sb, sparse_common::Bars bars,
                                        const Lane& ln) {
  using Cfg = Config<Fmt>;
  using G = Gather<Fmt>;
  int idx[kProducerRowsPerThread];
  StepRows<G::kV32> cur;
  uint4 va[2][kPiecesPerRowThread], vb[2][kPiecesPerRowThread];
  uint32_t sa[2], sbv[2];
  block_indices(p, b, s, bl, blk_begin, ln, idx);
  for (int i = 0; i < steps; ++i) {
    const int blk = blk_begin + i, st = i & 1;
    const uint32_t stage = sb + Cfg::kSmemK + st * Cfg::kTileBytes;
    const PoolParams& pool = p.pools[blk >= bl.blocks_main ? 1 : 0];
    resolve<Fmt>(pool, idx, ln, cur);
    issue_half<Fmt, kNarrow>(cur, 0, ln, va, sa);
    issue_half<Fmt, kNarrow>(cur, 1, ln, vb, sbv);
    if (i + 1 < steps) block_indices(p, b, s, bl, blk + 1, ln, idx);  // resolved in the next iteration
    if (i >= 2) ptx::mbar_wait(bars.empty(st), ((i >> 1) - 1) & 1);  // both consumers are done with step i - 2
    rope_and_flags<Fmt, kNarrow>(cur, pool, ln, stage, sb + Cfg::kSmemValid + st * kBlockN);
    convert_half<Fmt>(va, sa, 0, ln, stage);
    convert_half<Fmt>(vb, sbv, 1, ln, stage);
    ptx::fence_proxy_async();  // the generic stores above -> the consumers' WGMMA reads (async proxy)
    ptx::mbar_arrive(bars.full(st));                             // release: converted values and flags
    sparse_common::cp_async_mbar_arrive_noinc(bars.full(st));  // fires when this thread's copies landed
  }
}

// Bytes a pair CTA's producer writes into each stage of its peer: its 32 rows' NoPE parts in bf16
// (every lane with NoPE pieces converts whole groups of 4; MODEL1's last lane group has none). The
// peer's thread 0 posts them as its full[] arrival's expect_tx.
// How the half goes to the peer: false = st.async of every 16-byte chunk as it is converted; true =
// local stores, then one bulk copy (TMA) per NoPE box of the 32 rows (perf-log section 21).
constexpr bool kPeerBulk = true;
constexpr uint32_t kProducerBarrier = 1;  // named barrier of the 128 producer threads (kPeerBulk)
template <class Fmt>
constexpr uint32_t kPeerStageBytes = (kBlockN / 2) * Gather<Fmt>::kNopePieces * 32;

// The same for CTA `rank` of a 2-CTA pair (kernel.cuh: h_q > 64, the pair's two head blocks attend the
// same blocks): this CTA loads and converts only its half of every block's rows (Lane::rot: rows i = 0,
// 1) and stores each converted chunk into both CTAs' stages (the peer's by st.async at peer_sb + the
// same offset, completing bytes on the peer's full[]), so each producer does half the NoPE loads and
// conversions of a lone CTA; the RoPE copies and flags of all 64 rows stay local. With two rows a
// step, the loads roll: as soon as row j of step i is converted, row j of step i + 1 is loaded into
// the same registers (32 in flight), so a load has the rest of the step and the next wait to land.
// Per step i: resolve step i + 1, [wait for stage i % 2 released by both CTAs' consumers: empty[]
// counts the peer's warps], RoPE + flags, per row: convert (local stores + st.async to the peer), load
// the next step's row; step i + 2's indices; full[] (thread 0's arrival carries the expect_tx of the
// peer's kPeerStageBytes). Only CTA-scope barrier operations: cluster-scope ones cost a GPU-wide
// memory barrier each (ptx.cuh).
template <class Fmt, bool kNarrow>
__device__ __forceinline__ void produce_pair(const SparseDecodeParams& p, int64_t b, int64_t s, const BlockList& bl,
                                             int blk_begin, int steps, uint32_t sb, uint32_t peer_sb,
                                             sparse_common::Bars bars, const Lane& ln, int t) {
  using Cfg = Config<Fmt>;
  using G = Gather<Fmt>;
  static_assert(G::kNopePieces % kPiecesPerRowThread == 0, "a lane converts all of its 4 pieces or none (kPeerStageBytes)");
  auto pool_of = [&](int blk) -> const PoolParams& { return p.pools[blk >= bl.blocks_main ? 1 : 0]; };
  int idx[kProducerRowsPerThread];
  StepRows<G::kV32> cur, nxt;
  uint4 v[2][kPiecesPerRowThread];
  uint32_t sc[2];
  block_indices(p, b, s, bl, blk_begin, ln, idx);
  resolve<Fmt>(pool_of(blk_begin), idx, ln, cur);
  issue_half<Fmt, kNarrow>(cur, 0, ln, v, sc);
  if (steps > 1) block_indices(p, b, s, bl, blk_begin + 1, ln, idx);
  for (int i = 0; i < steps; ++i) {
    const int blk = blk_begin + i, st = i & 1;
    const bool more = i + 1 < steps;
    const uint32_t off = Cfg::kSmemK + st * Cfg::kTileBytes;
    if (more) resolve<Fmt>(pool_of(blk + 1), idx, ln, nxt);
    if (i >= 2) ptx::mbar_wait(bars.empty(st), ((i >> 1) - 1) & 1);  // both CTAs done with step i - 2
    rope_and_flags<Fmt, kNarrow>(cur, pool_of(blk), ln, sb + off, sb + Cfg::kSmemValid + st * kBlockN);
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      convert_row<Fmt, !kPeerBulk>(v[j], sc[j], j, ln, sb + off, peer_sb + off, bars.peer_full(st));
      if (more) issue_row<Fmt, kNarrow>(nxt, j, ln, v[j], sc[j]);
    }
    if (i + 2 < steps) block_indices(p, b, s, bl, blk + 2, ln, idx);
    ptx::fence_proxy_async();  // the local generic stores -> the consumers' WGMMA reads (async proxy)
    if constexpr (kPeerBulk) {
      // Our 32 rows of each NoPE box are one contiguous 4 KB run (rows are 128-byte lines; the swizzle
      // stays inside a row): after every producer thread's stores, one bulk copy per box to the peer.
      ptx::bar_sync(kProducerBarrier, 128);
      if (t == 0) {
        const uint32_t half = static_cast<uint32_t>(ln.rot / 2) * (kBlockN / 2) * 128;
#pragma unroll
        for (int bx = 0; bx < G::kNopePieces / 4; ++bx)
          ptx::bulk_copy_to_cluster(peer_sb + off + bx * kBoxBytes + half, sb + off + bx * kBoxBytes + half,
                                    (kBlockN / 2) * 128, bars.peer_full(st));
      }
    }
    if (t == 0) ptx::mbar_arrive_expect_tx(bars.full(st), kPeerStageBytes<Fmt>);
    else ptx::mbar_arrive(bars.full(st));
    sparse_common::cp_async_mbar_arrive_noinc(bars.full(st));
    if (more) cur = nxt;
  }
}

// Thread t (0..127) of the producer warpgroup: Q, then the CTA's `steps` (>= 1) blocks from blk_begin.
// kPair: CTA `rank` of a 2-CTA pair (produce_pair), peer_sb the peer's shared-memory base.
template <class Fmt, bool kPair>
__device__ __forceinline__ void producer(const SparseDecodeParams& p, int64_t b, int64_t s, int h0, const BlockList& bl,
                                         int blk_begin, int steps, uint32_t sb, sparse_common::Bars bars, int t,
                                         uint32_t rank, uint32_t peer_sb) {
  using Cfg = Config<Fmt>;
  Lane ln;
  ln.sub = t / kProducerRowGroups;
  ln.rg = t % kProducerRowGroups;
  ln.a = ln.sub >> 1;
  ln.e = ln.sub & 1;
  ln.rot = kPair ? static_cast<int>(2 * rank) : 0;
  // Q (zero rows past h_q), tracked by step 0's full barrier together with step 0's copies.
  const uint16_t* q_base = p.q + b * p.stride_q_b + s * p.stride_q_s;
#pragma unroll
  for (int r = 0; r < kProducerRowsPerThread; ++r) {
    const int row = ln.rg + kProducerRowGroups * r, h = h0 + row;
    const bool hv = h < p.h_q;
    sparse_common::cp_async_row<Cfg::kBoxes>(sb + Cfg::kSmemQ, row, ln.sub, q_base + (hv ? h : 0) * p.stride_q_h, hv);
  }
  const bool narrow = p.pools[0].narrow || (p.pools[1].topk > 0 && p.pools[1].narrow);
  if constexpr (kPair) {
    if (narrow) produce_pair<Fmt, true>(p, b, s, bl, blk_begin, steps, sb, peer_sb, bars, ln, t);
    else produce_pair<Fmt, false>(p, b, s, bl, blk_begin, steps, sb, peer_sb, bars, ln, t);
  } else {
    if (narrow) produce<Fmt, true>(p, b, s, bl, blk_begin, steps, sb, bars, ln);
    else produce<Fmt, false>(p, b, s, bl, blk_begin, steps, sb, bars, ln);
  }
  sparse_common::cp_async_commit();
  sparse_common::cp_async_wait<0>();  // nothing in flight when the thread exits
}

}  // namespace flashmla::sm90::sparse_decode
