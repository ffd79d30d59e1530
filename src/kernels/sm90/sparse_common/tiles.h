// Tile sizes, warpgroup roles and the shared-memory map of the two sparse ping-pong kernels: the sparse
// prefill (bf16 rows gathered with cp.async) and the sparse decode (e4m3 tokens converted to bf16 by the
// producer). Both run the same consumers (pingpong.cuh) on the same map; they differ in their producer
// and epilogue. Every number is checked against the sm_90 budget by a static_assert.
#pragma once

#include <cstdint>

namespace flashmla::sm90::sparse_common {

constexpr int kBlockM = 64;          // query heads per CTA = WGMMA M (h_q < 64: padded with zero rows)
constexpr int kBlockN = 64;          // top-k positions (gathered rows) per main-loop step = S tile N
constexpr int kHeadDimV = 512;       // value channels: the first 512 of each row
constexpr int kHalfV = kHeadDimV / 2;  // O columns each consumer owns (64 x 256 fp32 = 128 regs/thread)
constexpr int kBoxCols = 64;         // channels per 128 B swizzle row (64 x bf16)
constexpr int kBoxBytes = kBlockN * kBoxCols * 2;  // 8192: one 64-row x 64-channel swizzled box
constexpr int kChunkBytes = 16;      // one swizzle slot: 8 channels

// Three warpgroups: WG0 and WG1 are the consumers (WG c owns O[:, 256c : 256c + 256] and computes the
// full 64 x 64 score tile of the steps b with b % 2 == c), WG2 is the producer.
constexpr int kConsumerThreads = 256;
constexpr int kThreads = kConsumerThreads + 128;
constexpr int kLaunchRegs = 168;  // 65536 / 384, what setmaxnreg redistributes between the warpgroups
constexpr int kMinBlocksPerSm = 1;

template <int kDQK>
struct Config {
  static_assert(kDQK == 512 || kDQK == 576, "d_qk: 512 or 576");
  static constexpr int kDim = kDQK;
  static constexpr int kBoxes = kDQK / kBoxCols;         // 8 or 9 boxes per 64-row tile
  static constexpr int kTileBytes = kBoxes * kBoxBytes;  // Q tile = one K stage: 64 or 72 KB
  // Two K stages: all that fits next to Q at d_qk 576 (3 x 72 KB). The depth is one step of tensor work
  // (about 2 200 cycles at d_qk 576) ahead of the consumers.
  static constexpr int kStages = 2;

  // Shared memory map (bytes from a 1024-aligned base; 128B-swizzled tiles need 1024 B alignment).
  static constexpr int kSmemQ = 0;
  static constexpr int kSmemK = kSmemQ + kTileBytes;            // kStages x kTileBytes
  static constexpr int kSmemP = kSmemK + kStages * kTileBytes;  // P: 64 x 64 bf16, swizzled (one buffer)
  static constexpr int kSmemBars = kSmemP + kBoxBytes;          // mbarriers, 8 B each (pingpong.cuh Bars)
  static constexpr int kNumBars = 3 * kStages + 1;              // full[2], empty[2], ready[2], epilogue
  static constexpr int kSmemRowM = kSmemBars + 64;              // f32 [2 step parities][64]: m_b
  static constexpr int kSmemRowF = kSmemRowM + 2 * kBlockM * 4;  // f32 [2][64]: f_b rescale factors
  static constexpr int kSmemRowL = kSmemRowF + 2 * kBlockM * 4;  // f32 [2 consumers][64]: row sums
  static constexpr int kSmemValid = kSmemRowL + 2 * kBlockM * 4;  // u8 [kStages][64]: position valid
  static constexpr int kSmemUsed = kSmemValid + kStages * kBlockN;
  static constexpr int kSmemAlignSlack = 1024;  // the dynamic smem base is only 16 B aligned
  static constexpr int kSmemBytes = kSmemUsed + kSmemAlignSlack;
  static_assert(kNumBars * 8 <= 64, "barrier area");
  static_assert(kSmemBytes <= 227 * 1024, "shared memory: 227 KB per block on sm_90");
  static_assert(kSmemK % 1024 == 0 && kTileBytes % 1024 == 0 && kSmemP % 1024 == 0, "swizzled tiles 1024 B aligned");
};

}  // namespace flashmla::sm90::sparse_common
