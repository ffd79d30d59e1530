// The producer warpgroup's FP8 -> bf16 conversion of a K page's box groups and of an fp8 Q tile, in
// place inside the bf16 area it converts into (config.h).
//
// Exactness: every e4m3 value (3 mantissa bits, exponents 2^-9 .. 2^8) is a bf16 value, so the raw
// bytes are converted WITHOUT the scale (e4m3x2 -> f16x2 -> 2 x f32 -> bf16x2, each step exact; the
// e4m3 NaN codes 0x7F/0xFF stay NaN) and descale_k is folded into the softmax scale and the output.
//
// Layouts (both 128B-swizzled, 1024 B aligned, rows of 128 B, 16 B chunk c of row r at c ^ (r % 8)),
// relative to one tile (a K box group's region, config.h, or the Q area):
//   fp8 box f (TMA, 64 tokens x 128 channels) at staging + 8 KB f: logical chunk lc of row r holds
//     channels 128 f + 16 lc .. + 15 of the tile;
//   bf16 box b (64 tokens x 64 channels) at dst + 8 KB b: logical chunk c holds channels 64 b + 8 c.
// So fp8 chunk (r, lc) becomes bf16 chunks 2 (lc % 4) and 2 (lc % 4) + 1 of row r of box 2 f + lc / 4.
//
// Per fp8 box each thread reads four 16 B chunks, the warpgroup meets at a named barrier only where a
// write may reach staging not yet read by every thread (config.h, convert_map::barrier_before_write),
// then each thread writes 4 x 32 B, bank-conflict free (map: convert_tile, convert_map.h). Per page and
// thread: 5 fp8 boxes in three groups (RoPE 1, Lo 2, Hi 2), 3 barriers, 20 loads, <= 40 stores (half
// the threads skip the RoPE box's out-of-bounds half), about 4.5 instructions per converted pair of
// values (e4m3x2 -> f16x2, 2 x f16 -> f32, f32x2 -> bf16x2, a shift per word).
#pragma once

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <utility>

#include "kernels/common/convert.cuh"
#include "kernels/sm90/decode_dense_fp8/config.h"
#include "kernels/sm90/decode_dense_fp8/convert_map.h"
#include "kernels/sm90/ptx.cuh"

namespace flashmla::sm90::dense_fp8 {

// Two e4m3 bytes (the low 16 bits of w) -> bf16x2, low byte in the low half. Exact; NaN stays NaN.
__device__ __forceinline__ uint32_t e4m3x2_to_bf16x2(uint32_t w) {
  const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(w & 0xFFFFu), __NV_E4M3);
  const float lo = __half2float(__half(__half_raw{h.x}));
  const float hi = __half2float(__half(__half_raw{h.y}));
  return kernels::pack2<false>(lo, hi);  // cvt.rn.bf16x2.f32: exact here (<= 4 significant bits)
}

// Four e4m3 bytes (w, lowest byte first) -> two bf16x2 words (bytes 0, 1 -> lo; 2, 3 -> hi): the
// converter's unit of work. The GPU test GpuDenseFp8Convert.AllCodesExact checks all 256 codes
// against the exact table through this function.
// (Tried 2026-12-02: bf16 bit placement -- s at bit 15, eeee.mmm at bits 4..10 is x * 2^-120 for every
// finite code, subnormals included -- and one bf16 multiply by 2^120, 10 integer / FMA-pipe
// instructions per word instead of 4 conversion-pipe ones. Exact on the H200 (all 256 codes), but the
// kernel got 2-3 % slower, not faster: the converter is not limited by the conversion pipe.
// docs/perf-log.md §17.)
__device__ __forceinline__ void e4m3x4_to_bf16x4(uint32_t w, uint32_t& lo, uint32_t& hi) {
  lo = e4m3x2_to_bf16x2(w);
  hi = e4m3x2_to_bf16x2(w >> 16);
}

__device__ __forceinline__ void ld_shared_v4(uint32_t addr, uint32_t (&v)[4]) {
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v[0]), "=r"(v[1]), "=r"(v[2]), "=r"(v[3]) : "r"(addr) : "memory");
}
using ptx::st_shared_v4;

// Converts an fp8 tile staged at dst + kStaging (kF8 TMA boxes of 64 rows x 128 B, all completing the
// mbarrier f8_full, phase `parity`) into 2 kF8 (kRopeTail: 2 kF8 - 1) bf16 boxes at `dst` (box b at
// dst + 8 KB b), then arrives once on `full` (128 arrivals: a K box group, or the Q tile).
// Called by all 128 producer threads (t = thread index in the warpgroup). In place: per fp8 box, every
// thread reads its 4 chunks (16 registers, all four loads in flight), then -- only where a write can
// reach staging another thread may not have read yet (convert_map::barrier_before_write) -- the
// warpgroup meets at a named barrier, then each thread converts its 16 words (16 independent chains)
// and writes 8 x 16 B. Barriers per tile: RoPE 1, Lo / Hi 1 (before box 1; box 0's writes end where
// the staging starts), Q 2 (before boxes 2 and 3). (Until 2026-12-02: half-box passes of 2 chunks
// with a barrier each, 10 per page, on 40 registers.)
//
// Thread -> chunk map (chunk (h, u) of a box: row row0 + 16 u + 32 h, h, u = 0, 1): the 8 threads of a
// quarter-warp take rows (r, r + 1) = (2 ((t / 16) % 8) + 16 u + 32 h, + 1); threads 0-3 of the
// quarter take row r, 4-7 row r + 1; with s = (t / 8) % 2 the first row's threads take logical
// chunks 4 s .. 4 s + 3 and the second row's the other four. So each quarter-warp
//   reads 4 chunks of row r and 4 of row r + 1 whose physical positions are {0..3} ^ sw and
//     {4..7} ^ (sw ^ 1) (or the other way round): 8 distinct 16 B bank groups;
//   writes box 2f from one row and box 2f+1 from the other, first the even bf16 chunks, {0,2,4,6} ^ sw
//     and {0,2,4,6} ^ (sw ^ 1) (even vs odd positions), then the odd ones: 8 distinct bank groups.
// Everything but the chunk offsets is a per-thread constant (the swizzle phase of rows r + 16 u + 32 h
// is that of r).
// fp8 box F of a tile: this thread's 4 reads, the barrier where needed, its conversions and writes.
template <int kF8, bool kRopeTail, int kStaging, int F>
__device__ __forceinline__ void convert_box(uint32_t rd, uint32_t wr, bool hi_box) {
  uint32_t in[2][2][4];
#pragma unroll
  for (int h = 0; h < 2; ++h)
#pragma unroll
    for (int u = 0; u < 2; ++u) ld_shared_v4(rd + convert_map::read_step(F, h, u, kF8BoxBytes), in[h][u]);
  if constexpr (convert_map::barrier_before_write(F, kF8, kRopeTail, kStaging, kBoxBytes, kF8BoxBytes))
    ptx::bar_sync(kBarConvert, kProducerThreads);
  if (kRopeTail && F == kF8 - 1 && hi_box) return;  // channels 576..639: out of bounds, no box
#pragma unroll
  for (int h = 0; h < 2; ++h)
#pragma unroll
    for (int u = 0; u < 2; ++u) {
      // Channels 0-7 of the chunk (words 0, 1) -> bf16 chunk 2 (lc % 4), channels 8-15 -> the next
      // one (its physical position differs in bit 4 of the address only).
      const uint32_t d = wr + convert_map::write_step(F, h, u, kBoxBytes);
      uint32_t o[8];
#pragma unroll
      for (int i = 0; i < 4; ++i) e4m3x4_to_bf16x4(in[h][u][i], o[2 * i], o[2 * i + 1]);
      st_shared_v4(d, o[0], o[1], o[2], o[3]);
      st_shared_v4(d ^ 16, o[4], o[5], o[6], o[7]);
    }
}

template <int kF8, bool kRopeTail, int kStaging, int... F>
__device__ __forceinline__ void convert_boxes(uint32_t rd, uint32_t wr, bool hi_box,
                                              std::integer_sequence<int, F...>) {
  (convert_box<kF8, kRopeTail, kStaging, F>(rd, wr, hi_box), ...);  // boxes in increasing order
}

template <int kF8, bool kRopeTail, int kStaging>
__device__ __forceinline__ void convert_tile(uint32_t dst, uint32_t f8_full, uint32_t full, uint32_t parity,
                                             int t_in) {
  // The per-thread constants below are recomputed at each call (about 15 instructions) from an opaque
  // copy of t: hoisted out of the page loop they would stay live across it.
  int t = t_in;
  asm volatile("" : "+r"(t));
  const bool hi_box = convert_map::lchunk(t) >= 4;  // -> bf16 box 2f + 1 (absent for the RoPE box)
  const uint32_t rd = dst + kStaging + convert_map::read_base(t);
  const uint32_t wr = dst + convert_map::write_base(t, kBoxBytes);
  ptx::mbar_wait(f8_full, parity);  // all kF8 boxes complete one phase
  convert_boxes<kF8, kRopeTail, kStaging>(rd, wr, hi_box, std::make_integer_sequence<int, kF8>{});
  // This thread's bf16 writes are done: make them visible to WGMMA (async proxy), then arrive (the
  // consumers' wait on the 128th arrival is the acquire).
  ptx::fence_proxy_async();
  ptx::mbar_arrive(full);
}

// One box group of a K page (config.h's table), in place inside its bf16 region of the stage: the
// RoPE group's fp8 box (its out-of-bounds half skipped) -> bf16 box 8; Lo / Hi: 2 fp8 boxes staged in
// the region's top half -> 4 bf16 boxes. One release (128 arrivals on k_full) when the group is done.
template <int kGroup>
__device__ __forceinline__ void convert_group(uint32_t stage, uint32_t f8_full, uint32_t k_full, uint32_t parity,
                                              int t) {
  constexpr bool kRope = kGroup == kGroupRope;
  convert_tile<group_f8_count(kGroup), kRope, group_staging(kGroup) - group_first_box(kGroup) * kBoxBytes>(
      stage + group_first_box(kGroup) * kBoxBytes, f8_full, k_full, parity, t);
}

}  // namespace flashmla::sm90::dense_fp8
