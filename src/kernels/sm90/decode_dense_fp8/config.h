// Compile-time plan of the dense FP8-cache decode split kernel (bf16 q, e4m3 cache, bf16 WGMMA):
// tiles, warpgroup roles, shared-memory map, barrier ids. Every number is checked against the budget.
#pragma once

#include <cstdint>

#include "common/host_device.h"
#include "kernels/sm90/decode_dense_common/geometry.h"

namespace flashmla::sm90::dense_fp8 {

// The tile geometry, the bf16 page layout (kBoxCols 16-bit channels per box, 9 boxes per page, 2
// stages), the register split, the map up to the mbarriers and the consumers' named barriers are the
// bf16 kernel's (decode_dense_common/geometry.h).
using namespace dense_common;

// FP8 staging: the e4m3 page arrives by TMA as geometry.h's e4m3 boxes (kF8BoxCols channels x 64 rows,
// the same smem layout as a bf16 box's).
// There is no room for a separate fp8 buffer (Q 64 KB + 2 x 72 KB + P 16 KB = 224 KB of 227), so each
// BOX GROUP's fp8 bytes land inside that group's own bf16 region and are converted there, in place,
// as soon as the group's previous occupant was released (the same three groups and releasers as the
// bf16 kernel, geometry.h):
//   group     bf16 boxes (region)      fp8 boxes (channels)   staged at (from the region's start)
//   RoPE      8      (64 - 72 KB)      4 (512..639, 576+ OOB)  0     (the whole 8 KB region)
//   Lo        0-3    ( 0 - 32 KB)      0, 1 (0..255)           16 KB (the region's top half)
//   Hi        4-7    (32 - 64 KB)      2, 3 (256..511)         16 KB
// fp8 box f of a group (at staging + 8 KB f) becomes bf16 boxes 2f, 2f+1 of the group (at 16 KB f).
// Converting f in increasing order, in half-box passes (rows 0-31, then 32-63) that read everything
// into registers and barrier before writing, a write never reaches bytes not yet read: Lo/Hi: the
// writes of f = 0 end at 16 KB, where the staging starts; those of f = 1 cover [16, 32) KB, of which
// a pass writes only rows of the pass just read (its own fp8 rows) or of fp8 box 0 (already read);
// RoPE: each pass writes exactly the 4 KB it just read. convert_map.h holds the formulas, and a CPU
// test (tests/cpp/test_dense_fp8.cpp) replays every group's passes on a byte-tagged model of smem.
// (Until 2026-12-02 the whole page was staged in the top 40 KB of its stage, so the TMA of a page waited
// for ALL of the previous page's groups -- the end of the previous pair -- and the conversion behind
// it: 2x the bf16 kernel's time on compute-bound rows. docs/dense_fp8.md.)
constexpr int kF8GroupStaging = 2 * kBoxBytes;         // Lo / Hi: 16 KB into the group's region
FLASHMLA_HD constexpr int group_first_box(int g) { return g == kGroupRope ? kRopeBox : g == kGroupLo ? 0 : 4; }
FLASHMLA_HD constexpr int group_f8_first(int g) { return g == kGroupRope ? 4 : g == kGroupLo ? 0 : 2; }
FLASHMLA_HD constexpr int group_f8_count(int g) { return g == kGroupRope ? 1 : 2; }
FLASHMLA_HD constexpr int group_staging(int g) {  // from the start of the stage
  return group_first_box(g) * kBoxBytes + (g == kGroupRope ? 0 : kF8GroupStaging);
}
static_assert(group_staging(kGroupLo) % 1024 == 0 && group_staging(kGroupHi) % 1024 == 0 &&
                  group_staging(kGroupRope) % 1024 == 0,
              "swizzled TMA destinations must be 1024 B aligned");
static_assert(group_f8_first(kGroupHi) * kF8BoxCols == group_first_box(kGroupHi) * kBoxCols &&
                  group_f8_first(kGroupRope) * kF8BoxCols == group_first_box(kGroupRope) * kBoxCols,
              "fp8 box f of a group holds the channels of its bf16 boxes 2f, 2f+1");

// WG0 = producer + converter, all 128 threads of it converting.
constexpr int kProducerThreads = 128;
// Register split of this kernel (the bf16 kernel's is 40 / 232, geometry.h): the converter holds a
// whole fp8 box's 16 input words per thread so that its 16 conversion chains and 4 loads are in
// flight together (at 40 registers, in half-box passes, ncu measured ~10 cycles per issued
// instruction: a latency-bound converter). 56 / 224 is the most the consumers can give up without
// spilling (216 spills 44 B).
constexpr int kFp8ProducerRegs = 56;
constexpr int kFp8ConsumerRegs = 224;
static_assert(128 * kFp8ProducerRegs + 256 * kFp8ConsumerRegs <= kThreads * kLaunchRegs,
              "setmaxnreg: registers taken by the consumers must be given up by the producer");

// Shared memory after the common map (Q, 2 stages x 72 KB with the fp8 staging inside, P, rows):
// q_full, q_empty, k_full[stage][group] (6, 128 converter arrivals each), f8_full[stage][group] (6,
// TMA), k_empty[stage][group] (6, the group's releasing consumer), epilogue row-sum exchange (1),
// p1_ready and p0_ready (the consumers' P hand-offs): 23 x 8 B.
constexpr int kNumMbarriers = 2 + 3 * kStages * kNumGroups + 3;
constexpr int kSmemBarBytes = 384;
// One f32 right after the mbarriers: softmax_scale * log2(e) * descale_k, computed once per CTA from
// the device descale and re-read from smem where needed (a register held across the main loop would
// push the 224-register consumers into spills; the bf16 kernel's scale is a kernel parameter).
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
