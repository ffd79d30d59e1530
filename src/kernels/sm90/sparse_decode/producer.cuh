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

// Indices of this thread's 4 rows of block `blk` (-1 past the pool's valid length: never read).
__device__ __forceinline__ void block_indices(const SparseDecodeParams& p, int64_t b, int64_t s, const BlockList& bl,
                                              int blk, int rg, int (&idx)[kProducerRowsPerThread]) {
  const bool extra = blk >= bl.blocks_main;
  const PoolParams& pool = p.pools[extra ? 1 : 0];
  const int pos0 = (extra ? blk - bl.blocks_main : blk) * kTokensPerBlock + rg;
  const int n = extra ? bl.n_extra : bl.n_main;
  const int32_t* row = pool.indices + b * pool.stride_indices_b + s * pool.stride_indices_s;
#pragma unroll
  for (int i = 0; i < kProducerRowsPerThread; ++i) {
    const int pos = pos0 + kProducerRowGroups * i;
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

// This thread's lane in the piece map (config.h): rg = t % 16 (rows rg + 16 i), sub = t / 16 (so warp w
// holds sub 2w, 2w + 1), a = sub / 2, e = sub % 2; piece k (< 4) of a row is p = 8a + 4e + k, channels
// 16p .. 16p + 15, in box p / 4 = 2a + e, swizzle chunks 2k and 2k + 1. The 8 lanes of a 16-byte store
// phase then are 8 consecutive rows at the same chunk: the swizzle (chunk ^ row % 8) spreads them over
// the 8 slots, conflict-free (the first version put one row in a phase: 16-way conflicts in ncu).
struct Lane {
  int sub, rg, a, e;
  template <class G>
  __device__ __forceinline__ bool has_nope() const { return 8 * a + 4 * e < G::kNopePieces; }  // MODEL1: sub 7 has none
  __device__ __forceinline__ int first_piece() const { return 8 * a + 4 * e; }
};

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

// NoPE loads and scales of rows 2h, 2h + 1 of a step into v / sc (zeros for masked rows and pieces
// past the NoPE part: scale 0 (V32) / 2^-127 (MODEL1) times zero data = 0).
template <class Fmt, bool kNarrow>
__device__ __forceinline__ void issue_half(const StepRows<Gather<Fmt>::kV32>& sr, int h, const Lane& ln, uint4 (&v)[2][kPiecesPerRowThread],
                                           uint32_t (&sc)[2]) {
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    const uint8_t* src = sr.data[2 * h + j];
#pragma unroll
    for (int k = 0; k < kPiecesPerRowThread; ++k) {
      v[j][k] = make_uint4(0u, 0u, 0u, 0u);
      if (src != nullptr && ln.has_nope<Gather<Fmt>>()) v[j][k] = load16<kNarrow>(src + 16 * (ln.first_piece() + k));
    }
    sc[j] = 0u;
    if (src != nullptr) {
      if constexpr (Gather<Fmt>::kV32) sc[j] = sparse_common::ld_nc_u32(src + Fmt::kScaleOffset + 4 * ln.a);
      else sc[j] = sparse_common::ld_nc_u8(sr.scale[2 * h + j]);
    }
  }
}

// Rows 2h, 2h + 1 of the step: dequantize and store into the stage's bf16 boxes.
template <class Fmt>
__device__ __forceinline__ void convert_half(const uint4 (&v)[2][kPiecesPerRowThread], const uint32_t (&sc)[2], int h,
                                             const Lane& ln, uint32_t stage) {
  if (!ln.has_nope<Gather<Fmt>>()) return;
  const uint32_t box = stage + (2 * ln.a + ln.e) * kBoxBytes;
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    const int row = ln.rg + kProducerRowGroups * (2 * h + j);
    float scale;
    if constexpr (Gather<Fmt>::kV32) scale = v32_scale(sc[j]);
    else scale = e8m0_scale(sc[j]);
#pragma unroll
    for (int k = 0; k < kPiecesPerRowThread; ++k) {
      uint32_t o[8];
      dequant16(v[j][k], scale, o);  // o[0..3] -> chunk 2k, o[4..7] -> chunk 2k + 1
      ptx::st_shared_v4(box + sparse_common::swizzled(row, 2 * k), o[0], o[1], o[2], o[3]);
      ptx::st_shared_v4(box + sparse_common::swizzled(row, 2 * k + 1), o[4], o[5], o[6], o[7]);
    }
  }
}

// Thread t (0..127) of the producer warpgroup over the CTA's `steps` (>= 1) blocks from blk_begin.
// Per step i (stage i % 2): [wait for the stage] RoPE copies + flags, convert half A, load half A of
// step i + 1, convert half B, load half B of step i + 1, full[stage].
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
  block_indices(p, b, s, bl, blk_begin, ln.rg, idx);
  for (int i = 0; i < steps; ++i) {
    const int blk = blk_begin + i, st = i & 1;
    const uint32_t stage = sb + Cfg::kSmemK + st * Cfg::kTileBytes;
    const PoolParams& pool = p.pools[blk >= bl.blocks_main ? 1 : 0];
    resolve<Fmt>(pool, idx, ln, cur);
    issue_half<Fmt, kNarrow>(cur, 0, ln, va, sa);
    issue_half<Fmt, kNarrow>(cur, 1, ln, vb, sbv);
    if (i + 1 < steps) block_indices(p, b, s, bl, blk + 1, ln.rg, idx);  // resolved in the next iteration
    if (i >= 2) ptx::mbar_wait(bars.empty(st), ((i >> 1) - 1) & 1);  // both consumers are done with step i - 2
#pragma unroll
    for (int r = 0; r < kProducerRowsPerThread; ++r) {
      const int row = ln.rg + kProducerRowGroups * r;
      const bool ok = cur.data[r] != nullptr;
      copy16<kNarrow>(stage + G::kRopeBox * kBoxBytes + sparse_common::swizzled(row, ln.sub),
                      ok ? cur.data[r] + G::kRopeByte + 16 * ln.sub : pool.cache, ok);
      if (ln.sub == 0) sparse_common::st_shared_u8(sb + Cfg::kSmemValid + st * kBlockN + row, ok ? 1u : 0u);
    }
    convert_half<Fmt>(va, sa, 0, ln, stage);
    convert_half<Fmt>(vb, sbv, 1, ln, stage);
    ptx::fence_proxy_async();  // the generic stores above -> the consumers' WGMMA reads (async proxy)
    ptx::mbar_arrive(bars.full(st));                             // release: converted values and flags
    sparse_common::cp_async_mbar_arrive_noinc(bars.full(st));  // fires when this thread's copies landed
  }
}

// Thread t (0..127) of the producer warpgroup: Q, then the CTA's `steps` (>= 1) blocks from blk_begin.
template <class Fmt>
__device__ __forceinline__ void producer(const SparseDecodeParams& p, int64_t b, int64_t s, int h0, const BlockList& bl,
                                         int blk_begin, int steps, uint32_t sb, sparse_common::Bars bars, int t) {
  using Cfg = Config<Fmt>;
  Lane ln;
  ln.sub = t / kProducerRowGroups;
  ln.rg = t % kProducerRowGroups;
  ln.a = ln.sub >> 1;
  ln.e = ln.sub & 1;
  // Q (zero rows past h_q), tracked by step 0's full barrier together with step 0's copies.
  const uint16_t* q_base = p.q + b * p.stride_q_b + s * p.stride_q_s;
#pragma unroll
  for (int r = 0; r < kProducerRowsPerThread; ++r) {
    const int row = ln.rg + kProducerRowGroups * r, h = h0 + row;
    const bool hv = h < p.h_q;
    sparse_common::cp_async_row<Cfg::kBoxes>(sb + Cfg::kSmemQ, row, ln.sub, q_base + (hv ? h : 0) * p.stride_q_h, hv);
  }
  const bool narrow = p.pools[0].narrow || (p.pools[1].topk > 0 && p.pools[1].narrow);
  if (narrow) produce<Fmt, true>(p, b, s, bl, blk_begin, steps, sb, bars, ln);
  else produce<Fmt, false>(p, b, s, bl, blk_begin, steps, sb, bars, ln);
  sparse_common::cp_async_commit();
  sparse_common::cp_async_wait<0>();  // nothing in flight when the thread exits
}

}  // namespace flashmla::sm90::sparse_decode
