// Compile-time plan of the sparse prefill kernel: tile sizes, thread roles, shared-memory map. Every
// number is checked against the sm_90 budget by a static_assert.
#pragma once

#include <cstdint>

namespace flashmla::sm90::sparse_prefill {

constexpr int kBlockM = 64;          // query heads per CTA = WGMMA M (h_q < 64: padded with zero rows)
constexpr int kBlockN = 64;          // top-k positions (gathered kv rows) per main-loop step
constexpr int kHalfN = kBlockN / 2;  // positions whose scores each warpgroup computes (WGMMA N = 32)
constexpr int kHeadDimV = 512;       // value channels: the first 512 of each kv row
constexpr int kHalfV = kHeadDimV / 2;  // O columns each warpgroup owns (64 x 256 fp32 = 128 regs/thread)
constexpr int kBoxCols = 64;         // channels per 128 B swizzle row (64 x bf16)
constexpr int kBoxBytes = kBlockN * kBoxCols * 2;  // 8192: one 64-row x 64-channel swizzled box
constexpr int kChunkBytes = 16;      // one cp.async: 8 channels

// Two warpgroups, no producer: all 256 threads gather the next step's rows with cp.async (4 threads
// per row) while the tensor cores work on the current one; warpgroup c owns O[:, 256c : 256c + 256]
// and computes the scores of positions [32c, 32c + 32) of each step.
constexpr int kThreads = 256;
constexpr int kThreadsPerRow = kThreads / kBlockN;  // 4: one gathered row = 4 threads
static_assert(kThreadsPerRow * kBlockN == kThreads && kBlockM == kBlockN, "one gather row per 4 threads, Q too");

template <int kDQK>
struct Config {
  static_assert(kDQK == 512 || kDQK == 576, "d_qk: 512 or 576");
  static constexpr int kDim = kDQK;
  static constexpr int kBoxes = kDQK / kBoxCols;           // 8 or 9 boxes per 64-row tile
  static constexpr int kChunksPerRow = kDQK * 2 / kChunkBytes;  // 64 or 72
  static constexpr int kChunksPerThread = kChunksPerRow / kThreadsPerRow;  // 16 or 18
  static constexpr int kTileBytes = kBoxes * kBoxBytes;   // Q tile = one K stage: 64 or 72 KB
  static constexpr int kStages = 2;

  // Shared memory map (bytes from a 1024-aligned base; 128B-swizzled tiles need 1024 B alignment).
  static constexpr int kSmemQ = 0;
  static constexpr int kSmemK = kSmemQ + kTileBytes;                 // kStages x kTileBytes
  static constexpr int kSmemP = kSmemK + kStages * kTileBytes;       // P: 64 x 64 bf16, swizzled
  static constexpr int kSmemRowMax = kSmemP + kBoxBytes;             // f32 [2 warpgroups][64]
  static constexpr int kSmemRowSum = kSmemRowMax + 2 * kBlockM * 4;  // f32 [2 warpgroups][64]
  static constexpr int kSmemValid = kSmemRowSum + 2 * kBlockM * 4;   // i32 [kStages][64] position valid
  static constexpr int kSmemUsed = kSmemValid + kStages * kBlockN * 4;
  static constexpr int kSmemAlignSlack = 1024;  // the dynamic smem base is only 16 B aligned
  static constexpr int kSmemBytes = kSmemUsed + kSmemAlignSlack;
  static_assert(kSmemBytes <= 227 * 1024, "shared memory: 227 KB per block on sm_90");
  static_assert(kSmemK % 1024 == 0 && kTileBytes % 1024 == 0 && kSmemP % 1024 == 0, "swizzled tiles 1024 B aligned");
  static_assert(kChunksPerThread * kThreadsPerRow == kChunksPerRow && kChunksPerThread % 2 == 0,
                "a thread's chunks pair up into whole boxes");
};

// Registers: 128 O accumulators + 16 scores + addressing; 256 threads x 1 CTA per SM allow 255.
constexpr int kMinBlocksPerSm = 1;

}  // namespace flashmla::sm90::sparse_prefill
