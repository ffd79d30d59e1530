// Launch shape of the merge kernel, and the budgets that follow from it.
//
// Work item = one warp on (row, chunk of channels), row = (b, s_q, h_q). Lane l owns vectors l, l + 32,
// ... of the chunk. Two paths:
//   vector (16-byte loads): every outs/out row is 16-byte aligned and dv is a multiple of the vector;
//     chunk = 512 channels, i.e. one warp per row at dv = 512 (bf16/fp16: 2 vectors of 8 per lane,
//     fp32: 4 vectors of 4 per lane; 16 fp32 accumulators either way);
//   scalar (any dv, any alignment): 8 single elements per lane, chunk = 256 channels.
// Shape::kUnroll live parts are loaded before any is accumulated: 8 x 16 B in flight per lane, 4 KB per
// warp on the vector path; with 16 resident warps per SM (2 blocks) that is 64 KB per SM, 8.4 MB on 132
// SMs, about twice the bandwidth x latency product of an H200 (4.8 TB/s x ~0.8 us).
// Registers (ptxas, sm_90a): accumulators 16 + raw in-flight data 32 + addressing: 94-98 per thread,
// capped at 128 by __launch_bounds__(256, 2); no spills, no local memory; no shared memory.
#pragma once

#include "kernels/common/merge/params.h"

namespace flashmla::kernels::merge {

constexpr int kWarpsPerBlock = 8;
constexpr int kThreads = kWarpsPerBlock * 32;
constexpr int kMinBlocksPerSm = 2;   // 16 warps per SM (4 KB in flight each): caps registers at 128
constexpr int kVectorChunk = 512;     // channels per warp, vector path
constexpr int kScalarChunk = 256;     // channels per warp, scalar path
constexpr int kMaxGridBlocks = 1 << 20;  // larger problems loop (grid-stride over work items)

constexpr int fmt_bytes(Fmt f) { return f == Fmt::kFP32 ? 4 : 2; }

template <Fmt kIn, bool kVector>
struct Shape {
  static constexpr int kElems = kVector ? 16 / fmt_bytes(kIn) : 1;   // elements per load
  static constexpr int kChunk = kVector ? kVectorChunk : kScalarChunk;
  static constexpr int kVecPerLane = kChunk / (32 * kElems);
  // Parts whose loads are issued before the first is accumulated: 8 vectors (128 B) per lane on the
  // vector path (bf16/fp16: 4 parts x 2, fp32: 2 parts x 4), 4 parts x 8 elements on the scalar path.
  static constexpr int kUnroll = kVector ? 8 / kVecPerLane : 4;
  static_assert(kVecPerLane * 32 * kElems == kChunk, "a chunk is a whole number of warp-wide loads");
  static_assert(kVecPerLane * kElems <= 16, "accumulator budget: 16 fp32 per lane");
};

}  // namespace flashmla::kernels::merge
