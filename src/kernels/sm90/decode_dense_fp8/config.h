// Compile-time plan of the dense FP8-cache decode split kernel (bf16 q, e4m3 cache, bf16 WGMMA):
// tiles, warpgroup roles, shared-memory map, barrier ids. Every number is checked against the budget.
#pragma once

#include <cstdint>

#include "kernels/sm90/decode_dense_common/geometry.h"

namespace flashmla::sm90::dense_fp8 {

// The tile geometry, the bf16 page layout (kBoxCols 16-bit channels per box, 9 boxes per page, 2
// stages), the register split, the map up to the mbarriers and the consumers' named barriers are the
// bf16 kernel's (decode_dense_common/geometry.h).
using namespace dense_common;

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
// fp8 q (the fp8-q variant): the Q NoPE tile (64 rows x 512 B) arrives as 4 fp8 boxes in the top 32 KB
// of the 64 KB bf16 Q area and is converted in place the same way (writes of box f end at 16 KB (f+1)
// <= 32 KB + 8 KB (f+1), the start of the next unread box, for f <= 3).
constexpr int kQF8Boxes = 4;
constexpr int kQF8StagingOffset = 4 * kBoxBytes;       // 32 KB into the Q area
constexpr int kF8StagingOffset = kStageBytes - kF8PageBytes;  // 32 KB into the stage
static_assert(kF8StagingOffset == 4 * kBoxBytes, "staging = top 40 KB of a stage");
static_assert(kF8StagingOffset % 1024 == 0, "swizzled TMA destinations must be 1024 B aligned");

// WG0 = producer + converter (40 registers: TMA issue, then per half-box pass 8 input and 8 output
// registers), all 128 threads of it converting.
constexpr int kProducerThreads = 128;

// A page's bf16 boxes are released in the three BoxGroups by their last readers, as in the bf16
// kernel. The producer needs the whole stage (its fp8 staging overlaps boxes 4-8, the conversion
// rewrites 0-8), so it waits for all three.
// Shared memory after the common map (Q, 2 stages x 72 KB with the fp8 staging inside, P, rows):
// q_full, q_empty, k_full[stage][box] (18, 128 converter arrivals each), f8_full[stage][fp8 box] (10,
// TMA), k_empty[stage][group] (6), epilogue row-sum exchange (1), q8_full (fp8 q's TMA), p1_ready
// and p0_ready (the consumers' P hand-offs): 40 x 8 B.
constexpr int kNumMbarriers = 2 + kStages * kKBoxes + kStages * kF8Boxes + kStages * kNumGroups + 4;
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

// Named barrier of the producer warpgroup (ids 1-6 are the consumers', geometry.h): every thread has
// read the half box it is about to overwrite.
constexpr uint32_t kBarConvert = 7;
static_assert(kBarConvert > kBarWg1, "named barrier ids must not collide");

}  // namespace flashmla::sm90::dense_fp8
