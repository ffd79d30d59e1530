// Compile-time plan of the dense FP8-cache decode split kernel (bf16 q, e4m3 cache, bf16 WGMMA):
// tiles, warpgroup roles, shared-memory map, barrier ids. Every number is checked against the budget.
#pragma once

#include <cstdint>

namespace flashmla::sm90::dense_fp8 {

constexpr int kBlockM = 64;       // query rows per CTA tile (WGMMA M)
constexpr int kPageTokens = 64;   // KV tokens per page = per pipeline stage
constexpr int kHeadDim = 576;     // Q/K channels: 512 latent ("NoPE") + 64 RoPE
constexpr int kHeadDimV = 512;    // V = first 512 channels of each K row
constexpr int kBoxCols = 64;      // bf16 channels per WGMMA box: 64 x 2 B = one 128 B swizzle row
constexpr int kBoxBytes = kPageTokens * kBoxCols * 2;  // 8192: one 64 x 64 bf16 box
constexpr int kQBoxes = 8;        // Q NoPE part in smem; Q RoPE part lives in registers
constexpr int kKBoxes = 9;        // a whole 64 x 576 bf16 page
constexpr int kRopeBox = 8;
constexpr int kStages = 2;        // K pages in flight

// FP8 staging: the e4m3 page arrives by TMA as 128-channel boxes (128 B rows = exactly one 128B
// swizzle span, so the smem layout is the same as a bf16 box's: 16 B chunk c of row r at c ^ (r % 8)).
// 576 = 4.5 x 128: the fifth box starts at channel 512 and its channels 576..639 are out of bounds
// (TMA writes zeros there and still counts the full 8 KB). 5 x 8 KB = 40 KB per page.
constexpr int kF8BoxCols = 128;
constexpr int kF8BoxBytes = kPageTokens * kF8BoxCols;  // 8192
constexpr int kF8Boxes = 5;
constexpr int kF8PageBytes = kF8Boxes * kF8BoxBytes;   // 40960
// The staging lives INSIDE the bf16 stage it converts into, in its top 40 KB (there is no room for a
// separate buffer: Q 64 KB + 2 x 72 KB + P 16 KB = 224 KB of 227). fp8 box f (at 32 KB + 8 KB f)
// becomes bf16 boxes 2f, 2f+1 (at 16 KB f). Converting f in increasing order, in half-box passes
// (rows 0-31, then 32-63) that read everything into registers and then barrier before writing, a
// write never reaches bytes not yet read: the writes of box f end at 16 KB (f + 1) <= 40 KB + 8 KB f
// (start of box f+1) for f <= 3, and the only self-overlaps (f = 3, 4) fall inside the pass being
// read. See convert.cuh.
constexpr int kStageBytes = kKBoxes * kBoxBytes;       // 72 KB per page
// fp8 q (the fp8-q variant): the Q NoPE tile (64 rows x 512 B) arrives as 4 fp8 boxes in the top 32 KB
// of the 64 KB bf16 Q area and is converted in place the same way (writes of box f end at 16 KB (f+1)
// <= 32 KB + 8 KB (f+1), the start of the next unread box, for f <= 3).
constexpr int kQF8Boxes = 4;
constexpr int kQF8StagingOffset = 4 * kBoxBytes;       // 32 KB into the Q area
constexpr int kF8StagingOffset = kStageBytes - kF8PageBytes;  // 32 KB into the stage
static_assert(kF8StagingOffset == 4 * kBoxBytes, "staging = top 40 KB of a stage");
static_assert(kF8StagingOffset % 1024 == 0, "swizzled TMA destinations must be 1024 B aligned");

// Warpgroups: WG0 = producer + converter (40 registers: TMA issue, then per half-box pass 8 input
// and 8 output registers), WG1 and WG2 = consumers (232 registers each: 128 O accumulators + 32
// scores + 16 P + 16 Q-RoPE + addressing). __launch_bounds__(384, 1) gives 168 per thread at launch;
// setmaxnreg only moves registers, so the consumers' increase is paid by the producer's decrease.
constexpr int kThreads = 384;
constexpr int kProducerThreads = 128;
constexpr int kProducerRegs = 40;
constexpr int kConsumerRegs = 232;
constexpr int kLaunchRegs = 168;
static_assert(128 * kProducerRegs + 256 * kConsumerRegs <= kThreads * kLaunchRegs,
              "setmaxnreg: registers taken by the consumers must be given up by the producer");

// A page's bf16 boxes are released in three groups by their last readers (as in the bf16 kernel):
// the RoPE box after Q*K^T, boxes 0-3 after P*V_L, boxes 4-7 after P*V_R. The producer needs the whole
// stage (its fp8 staging overlaps boxes 4-8, the conversion rewrites 0-8), so it waits for all three.
enum BoxGroup : int { kGroupRope = 0, kGroupLo = 1, kGroupHi = 2, kNumGroups = 3 };

// Shared memory map (bytes from a 1024-aligned base).
constexpr int kSmemQ = 0;                                   // Q NoPE: 8 bf16 boxes, 64 KB
constexpr int kSmemK = kSmemQ + kQBoxes * kBoxBytes;        // 2 stages x 72 KB (bf16 page; fp8 staging inside)
constexpr int kSmemP0 = kSmemK + kStages * kStageBytes;     // P of page A (bf16 64 x 64)
constexpr int kSmemP1 = kSmemP0 + kBoxBytes;                // P of page B
constexpr int kSmemRowM = kSmemP1 + kBoxBytes;              // f32 [2][64] running max after page A/B
constexpr int kSmemRowScale = kSmemRowM + 2 * kBlockM * 4;  // f32 [2][64] O rescale factor of page A/B
constexpr int kSmemRowL = kSmemRowScale + 2 * kBlockM * 4;  // f32 [2][64] row sums of each consumer
constexpr int kSmemBars = kSmemRowL + 2 * kBlockM * 4;      // mbarriers
// q_full, q_empty, k_full[stage][box] (18, 128 converter arrivals each), f8_full[stage][fp8 box] (10,
// TMA), k_empty[stage][group] (6), epilogue row-sum exchange (1), q8_full (fp8 q's TMA): 38 x 8 B.
constexpr int kNumMbarriers = 2 + kStages * kKBoxes + kStages * kF8Boxes + kStages * kNumGroups + 2;
constexpr int kSmemBarBytes = 384;
// One f32 right after the mbarriers: softmax_scale * log2(e) * descale_k, computed once per CTA from
// the device descale and re-read from smem where needed (a register held across the main loop would
// push the 232-register consumers into spills; the bf16 kernel's scale is a kernel parameter).
constexpr int kSmemScale = kSmemBars + kNumMbarriers * 8;
constexpr int kSmemDescale = kSmemScale + 4;  // descale_k itself, for the epilogue
constexpr int kSmemUsed = kSmemBars + kSmemBarBytes;
constexpr int kSmemAlignSlack = 1024;  // the dynamic smem base is only 16 B aligned
constexpr int kSmemBytes = kSmemUsed + kSmemAlignSlack;  // 232320 of 232448
static_assert(kNumMbarriers * 8 + 8 <= kSmemBarBytes, "mbarrier area + scale words");
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
  kBarConvert = 7,   // producer warpgroup: every thread has read the half box it is about to overwrite
};

}  // namespace flashmla::sm90::dense_fp8
