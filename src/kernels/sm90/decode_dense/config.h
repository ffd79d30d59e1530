// Compile-time plan of the dense decode split kernel: tile sizes, warpgroup roles, shared-memory map,
// named-barrier ids. Every number here is checked by a static_assert against the hardware budget.
#pragma once

#include <cstdint>

namespace flashmla::sm90::dense {

constexpr int kBlockM = 64;       // query rows per CTA tile (WGMMA M)
constexpr int kPageTokens = 64;   // KV tokens per page = per pipeline stage
constexpr int kHeadDim = 576;     // Q/K channels: 512 latent ("NoPE") + 64 RoPE
constexpr int kHeadDimV = 512;    // V = first 512 channels of each K row
constexpr int kBoxCols = 64;      // channels per TMA box: 64 x 2 B = one 128 B swizzle row
constexpr int kBoxBytes = kPageTokens * kBoxCols * 2;  // 8192: one 64 x 64 box
constexpr int kQBoxes = 8;        // Q NoPE part in smem; Q RoPE part lives in registers
constexpr int kKBoxes = 9;        // a whole 64 x 576 page
constexpr int kStages = 2;        // K pages in flight
// A page's boxes are released to the producer in three groups, each as soon as its last reader is
// done: the RoPE box after Q*K^T, boxes 0-3 (V[:, :256]) after P*V_L, boxes 4-7 after P*V_R. Every
// group also has its own "full" barrier, so Q*K^T starts on the first group that lands.
enum BoxGroup : int { kGroupRope = 0, kGroupLo = 1, kGroupHi = 2, kNumGroups = 3 };
constexpr int kRopeBox = 8;

// Warpgroups: WG0 = producer (one thread issues TMA; 40 registers), WG1 and WG2 =
// consumers (232 registers each: 128 O accumulators + 32 scores + 16 P + 16 Q-RoPE + addressing).
// __launch_bounds__(384, 1) gives every thread 168 registers at launch (64K / 384, rounded down to a
// multiple of 8); setmaxnreg only moves registers between warpgroups of that allocation, so the
// consumers' increase must be covered by the producer's decrease -- otherwise setmaxnreg.inc waits
// forever.
constexpr int kThreads = 384;
constexpr int kProducerRegs = 40;
constexpr int kConsumerRegs = 232;
constexpr int kLaunchRegs = 168;
static_assert(128 * kProducerRegs + 256 * kConsumerRegs <= kThreads * kLaunchRegs,
              "setmaxnreg: registers taken by the consumers must be given up by the producer");

// Shared memory map (bytes from a 1024-aligned base; 128B-swizzled tiles need 1024 B alignment).
constexpr int kSmemQ = 0;                                         // Q NoPE: 8 boxes, 64 KB
constexpr int kStageBytes = kKBoxes * kBoxBytes;                  // 72 KB per K page
constexpr int kSmemK = kSmemQ + kQBoxes * kBoxBytes;              // 2 stages, 144 KB
constexpr int kSmemP0 = kSmemK + kStages * kStageBytes;           // P of the even page (bf16 64 x 64)
constexpr int kSmemP1 = kSmemP0 + kBoxBytes;                      // P of the odd page
constexpr int kSmemRowM = kSmemP1 + kBoxBytes;                    // f32 [2][64] running max after page A/B
constexpr int kSmemRowScale = kSmemRowM + 2 * kBlockM * 4;        // f32 [2][64] O rescale factor of page A/B
constexpr int kSmemRowL = kSmemRowScale + 2 * kBlockM * 4;        // f32 [2][64] row sums of each consumer
constexpr int kSmemBars = kSmemRowL + 2 * kBlockM * 4;            // mbarriers
// q_full, q_empty, k_full[stage][group] (6), k_empty[stage][group] (6), epilogue row-sum exchange (1)
constexpr int kNumMbarriers = 2 + 2 * kStages * kNumGroups + 1;
constexpr int kSmemBarBytes = 256;
constexpr int kSmemUsed = kSmemBars + kSmemBarBytes;
constexpr int kSmemAlignSlack = 1024;                             // dynamic smem base is only 16 B aligned
constexpr int kSmemBytes = kSmemUsed + kSmemAlignSlack;
static_assert(kNumMbarriers * 8 <= kSmemBarBytes, "mbarrier area");
static_assert(kSmemBytes <= 227 * 1024, "shared memory: 227 KB per block on sm_90");
static_assert(kSmemK % 1024 == 0 && kStageBytes % 1024 == 0 && kSmemP0 % 1024 == 0 && kSmemP1 % 1024 == 0,
              "swizzled tiles must stay 1024 B aligned");

// Named barriers (id 0 = __syncthreads). Counts: 256 = both consumer warpgroups, 128 = one.
enum NamedBarrier : uint32_t {
  kBarP0Ready = 1,   // consumer 0 -> 1: P of page A, its max and rescale factor are in smem
  kBarP1Ready = 2,   // consumer 1 -> 0: same for page B
  kBarP0Free = 3,    // consumer 1 -> 0: done reading P of page A (and its max/scale)
  kBarEpilogue = 4,  // both: row sums read, row_l may be rewritten
  kBarWg0 = 5,       // consumer 0 internal: V-tail zeroing done
  kBarWg1 = 6,       // consumer 1 internal
};

}  // namespace flashmla::sm90::dense
