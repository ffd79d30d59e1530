// Compile-time plan of the dense decode split kernel: tile sizes, warpgroup roles, shared-memory map,
// named-barrier ids. Every number here is checked by a static_assert against the hardware budget.
// The tile geometry, the page layout, the register split, the map up to the mbarriers and the named
// barriers are shared with the FP8-cache kernel (decode_dense_common/geometry.h).
#pragma once

#include <cstdint>

#include "kernels/sm90/decode_dense_common/geometry.h"

namespace flashmla::sm90::dense {

using namespace dense_common;

// WG0's one thread issues TMA. Every box group also has its own "full" barrier, so Q*K^T starts on
// the first group that lands. Shared memory after the common map:
// q_full, q_empty, k_full[stage][group] (6), k_empty[stage][group] (6), epilogue row-sum exchange (1),
// p1_ready and p0_ready (the consumers' P hand-offs, 2)
constexpr int kNumMbarriers = 2 + 2 * kStages * kNumGroups + 3;
constexpr int kSmemBarBytes = 256;
constexpr int kSmemUsed = kSmemBars + kSmemBarBytes;
constexpr int kSmemAlignSlack = 1024;                             // dynamic smem base is only 16 B aligned
constexpr int kSmemBytes = kSmemUsed + kSmemAlignSlack;
static_assert(kNumMbarriers * 8 <= kSmemBarBytes, "mbarrier area");
static_assert(kSmemBytes <= 227 * 1024, "shared memory: 227 KB per block on sm_90");

}  // namespace flashmla::sm90::dense
