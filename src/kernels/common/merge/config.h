// Launch shape of the merge kernel, and the budgets that follow from it.
//
// Work unit = one warp on a GROUP of kRows consecutive rows (row = (b, s_q, h_q)) for one chunk of
// channels. Lane l owns vectors l, l + 32, ... of the chunk in every row of the group. Two paths:
//   vector (16-byte loads): every outs/out row is 16-byte aligned and dv is a multiple of the vector;
//     chunk = 512 channels (bf16/fp16: 2 vectors of 8 per lane per row and part, fp32: 4 vectors of 4);
//   scalar (any dv, any alignment): 8 single elements per lane, chunk = 256 channels, kRows = 1.
//
// Loads in flight. One round issues, for every row of the group, the 16-byte loads of up to kUnroll
// live parts before any of them is used; the lse values of the NEXT group were issued during the
// previous group's data wait (software pipeline), so a warp waits for one memory latency per round,
// not two (lse, then data) as the one-row-per-warp kernel did. kRows x kUnroll is picked from n on the
// host (launch.h rows_per_group) so that a round of 16-bit parts keeps 8-16 vectors per lane busy:
//   n <= 2: 2 rows x 2 parts, n >= 3: 1 row x up to 8 parts
//   = 8 (n = 2; 4 at n = 1) / 6-16 vectors (64-256 B) per lane, 2-8 KB per warp.
// (4 rows x 1 part for n = 1 needs 64 accumulators and spills at 128 registers: not instantiated.)
// Grid: at most as many warps as fit on the device (SM count x kMinBlocksPerSm blocks); each warp
// walks groups g, g + #warps, ... (the lse prefetch needs a next group), the groups split evenly.
//
// Prediction (H200: 132 SMs, ~4.25 TB/s copy, ~0.8-1 us loaded DRAM latency => 32 GB/s per SM x 1 us
// = ~32 KB per SM must be in flight): 16 resident warps x 4 KB = 64 KB per SM at n = 2 and n = 4,
// 128 KB at n = 8 (one round of 8 parts), 48 KB at n = 3, 80-112 KB at n = 5..7; the warp spends
// ~10-15 % of a round on arithmetic and stores, so >= ~48 KB stays in flight on average, 1.5x the need
// at every n >= 2: predicted >= 0.9 of copy bandwidth at n = 2, 4, 8 (the old kernel: ~16 KB average
// at n = 2 -> 0.59 measured; ~43 KB at n = 8 -> 0.89 measured), the rest lost to the launch and the
// last partial wave. n = 1 (4 vectors per lane, 32 KB per SM): ~0.85.
// Registers (ptxas, sm_90a, CUDA 13.0): <= 128 by __launch_bounds__(256, 2); no spills, no local
// memory, no shared memory (docs/merge.md lists the per-instantiation counts).
#pragma once

#include "kernels/common/merge/params.h"

namespace flashmla::kernels::merge {

constexpr int kWarpsPerBlock = 8;
constexpr int kThreads = kWarpsPerBlock * 32;
constexpr int kMinBlocksPerSm = 2;   // 16 warps per SM: caps registers at 128
constexpr int kVectorChunk = 512;    // channels per warp, vector path
constexpr int kScalarChunk = 256;    // channels per warp, scalar path

constexpr int fmt_bytes(Fmt f) { return f == Fmt::kFP32 ? 4 : 2; }

template <Fmt kIn, bool kVector, int kRows>
struct Shape {
  static constexpr int kElems = kVector ? 16 / fmt_bytes(kIn) : 1;  // elements per load
  static constexpr int kChunk = kVector ? kVectorChunk : kScalarChunk;
  static constexpr int kVecPerLane = kChunk / (32 * kElems);        // loads per lane per row and part
  // Loads per lane in one round: 16-bit parts 16 raw vectors (64 registers) next to one row's 16
  // accumulators, 8 next to kRows = 2 rows' (16 each); fp32 parts 8 (4 fp32 per vector, unpacked in
  // place: 16 spill at 128 registers); scalar path: 32 elements (4 parts x 8).
  static constexpr int kLoadBudget = kVector ? (kRows == 1 && kIn != Fmt::kFP32 ? 16 : 8) : 32;
  static constexpr int kUnroll = kLoadBudget / (kVecPerLane * kRows);  // parts per row and round
  static_assert(kVecPerLane * 32 * kElems == kChunk, "a chunk is a whole number of warp-wide loads");
  static_assert(kVecPerLane * kElems <= 16, "accumulator budget: 16 fp32 per lane and row");
  static_assert(kUnroll >= 1, "at least one part per row and round");
  static_assert(kVector || kRows == 1, "the scalar path works one row at a time");
};

}  // namespace flashmla::kernels::merge
