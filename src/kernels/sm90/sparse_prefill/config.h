// Compile-time plan of the sparse prefill kernel: tile sizes, thread roles, register split, shared-memory
// map. Every number is checked against the sm_90 budget by a static_assert.
#pragma once

#include <cstdint>

namespace flashmla::sm90::sparse_prefill {

constexpr int kBlockM = 64;          // query heads per CTA = WGMMA M (h_q < 64: padded with zero rows)
constexpr int kBlockN = 64;          // top-k positions (gathered kv rows) per main-loop step = S tile N
constexpr int kHeadDimV = 512;       // value channels: the first 512 of each kv row
constexpr int kHalfV = kHeadDimV / 2;  // O columns each consumer owns (64 x 256 fp32 = 128 regs/thread)
constexpr int kBoxCols = 64;         // channels per 128 B swizzle row (64 x bf16)
constexpr int kBoxBytes = kBlockN * kBoxCols * 2;  // 8192: one 64-row x 64-channel swizzled box
constexpr int kChunkBytes = 16;      // one cp.async: 8 channels

// Three warpgroups: WG0 and WG1 are the consumers (WG c owns O[:, 256c : 256c + 256] and computes the
// full 64 x 64 score tile of the steps b with b % 2 == c), WG2 is the producer (cp.async gathers).
constexpr int kConsumerThreads = 256;
constexpr int kThreads = kConsumerThreads + 128;
// Producer thread t gathers 16-byte chunk (t % 8) of rows t / 8 + 16 i (i < 4) of each box: a warp's
// cp.async covers 4 whole 128-byte rows (4 L2 lines) and its 32 shared stores hit each of the 8
// swizzled 16-byte slots 4 times (4 wavefronts for 512 B: conflict-free).
constexpr int kProducerChunkLanes = 8;
constexpr int kProducerRowGroups = 128 / kProducerChunkLanes;        // 16 rows per pass
constexpr int kProducerRowsPerThread = kBlockN / kProducerRowGroups;  // 4
static_assert(kProducerRowsPerThread * kProducerRowGroups == kBlockN && kBlockM == kBlockN, "Q uses the same map");

// Register split (setmaxnreg): the launch gives 65536 / 384 = 168 per thread; the producer drops to 40,
// the consumers rise to 232 (O 128 + S 32 + P fragments 16 + softmax state and addresses).
constexpr int kLaunchRegs = 168;
constexpr int kProducerRegs = 40;
constexpr int kConsumerRegs = 232;
static_assert(128 * kProducerRegs + kConsumerThreads * kConsumerRegs <= kThreads * kLaunchRegs,
              "setmaxnreg: the warpgroups' registers must fit the launch allocation");

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
  static constexpr int kSmemBars = kSmemP + kBoxBytes;          // mbarriers, 8 B each (see kernel.cuh)
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

constexpr int kMinBlocksPerSm = 1;

}  // namespace flashmla::sm90::sparse_prefill
