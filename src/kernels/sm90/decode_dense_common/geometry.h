// Compile-time plan shared by the two dense decode split kernels on sm_90a, the bf16/fp16 one
// (decode_dense/) and the FP8-cache one (decode_dense_fp8/, which converts each e4m3 page to the same
// bf16 layout in shared memory): tile sizes, the bf16 page layout, warpgroup roles, the common part of
// the shared-memory map and the consumers' named barriers. Each kernel's config.h pulls these in with
// a using-directive and adds what is its own (mbarrier area, total shared memory, fp8 staging).
#pragma once

#include <cstdint>

namespace flashmla::sm90::dense_common {

constexpr int kBlockM = 64;       // query rows per CTA tile (WGMMA M)
constexpr int kPageTokens = 64;   // KV tokens per page = per pipeline stage
constexpr int kHeadDim = 576;     // Q/K channels: 512 latent ("NoPE") + 64 RoPE
constexpr int kHeadDimV = 512;    // V = first 512 channels of each K row
constexpr int kBoxCols = 64;      // 16-bit channels per box: 64 x 2 B = one 128 B swizzle row
constexpr int kBoxBytes = kPageTokens * kBoxCols * 2;  // 8192: one 64 x 64 box
constexpr int kQBoxes = 8;        // Q NoPE part in smem; Q RoPE part lives in registers
constexpr int kKBoxes = 9;        // a whole 64 x 576 page
constexpr int kRopeBox = 8;
constexpr int kStages = 2;        // K pages in flight
constexpr int kStageBytes = kKBoxes * kBoxBytes;  // 72 KB per K page
// e4m3 tiles (both FP8-cache kernels, and the tensor maps decode_dense_fp8/launch.cu builds for them):
// boxes of 128 one-byte channels x 64 rows, 128 B rows = exactly one 128B swizzle span, so the smem
// layout is a bf16 box's (16 B chunk c of row r at c ^ (r % 8)). 576 = 4.5 x 128: the fifth box starts
// at channel 512 and its channels 576..639 are out of bounds (TMA writes zeros and still counts 8 KB).
constexpr int kF8BoxCols = 128;
constexpr int kF8BoxBytes = kPageTokens * kF8BoxCols;  // 8192
constexpr int kF8Boxes = 5;
// A page's boxes are released to the producer in three groups, each as soon as its last reader is
// done: the RoPE box after Q*K^T, boxes 0-3 (V[:, :256]) after P*V_L, boxes 4-7 after P*V_R.
enum BoxGroup : int { kGroupRope = 0, kGroupLo = 1, kGroupHi = 2, kNumGroups = 3 };

// Warpgroups: WG0 = producer (40 registers), WG1 and WG2 = consumers (232 registers each: 128 O
// accumulators + 32 scores + 16 P + 16 Q-RoPE + addressing). __launch_bounds__(384, 1) gives every
// thread 168 registers at launch (64K / 384, rounded down to a multiple of 8); setmaxnreg only moves
// registers between warpgroups of that allocation, so the consumers' increase must be covered by the
// producer's decrease -- otherwise setmaxnreg.inc waits forever.
constexpr int kThreads = 384;
constexpr int kProducerRegs = 40;
constexpr int kConsumerRegs = 232;
constexpr int kLaunchRegs = 168;
static_assert(128 * kProducerRegs + 256 * kConsumerRegs <= kThreads * kLaunchRegs,
              "setmaxnreg: registers taken by the consumers must be given up by the producer");

// Shared memory map up to the mbarriers (bytes from a 1024-aligned base; 128B-swizzled tiles need
// 1024 B alignment). What follows kSmemBars is each kernel's own (config.h).
constexpr int kSmemQ = 0;                                   // Q NoPE: 8 boxes, 64 KB
constexpr int kSmemK = kSmemQ + kQBoxes * kBoxBytes;        // 2 stages, 144 KB
constexpr int kSmemP0 = kSmemK + kStages * kStageBytes;     // P of page A (16-bit 64 x 64)
constexpr int kSmemP1 = kSmemP0 + kBoxBytes;                // P of page B
constexpr int kSmemRowM = kSmemP1 + kBoxBytes;              // f32 [2][64] running max after page A/B
constexpr int kSmemRowScale = kSmemRowM + 2 * kBlockM * 4;  // f32 [2][64] O rescale factor of page A/B
constexpr int kSmemRowL = kSmemRowScale + 2 * kBlockM * 4;  // f32 [2][64] row sums of each consumer
constexpr int kSmemBars = kSmemRowL + 2 * kBlockM * 4;      // mbarriers
static_assert(kSmemK % 1024 == 0 && kStageBytes % 1024 == 0 && kSmemP0 % 1024 == 0 && kSmemP1 % 1024 == 0,
              "swizzled tiles must stay 1024 B aligned");

// Named barriers of the consumers (id 0 = __syncthreads). Counts: 256 = both consumer warpgroups,
// 128 = one.
enum NamedBarrier : uint32_t {
  // (ids 1 and 2 are free: the P hand-offs between the consumers are mbarriers, seesaw.cuh)
  kBarP0Free = 3,    // consumer 1 -> 0: done reading P of page A (and its max/scale)
  kBarEpilogue = 4,  // both: row sums read, row_l may be rewritten
  kBarWg0 = 5,       // consumer 0 internal: V-tail zeroing done
  kBarWg1 = 6,       // consumer 1 internal (a kernel's own barriers start at 7)
};

}  // namespace flashmla::sm90::dense_common
