// Compile-time plan of the sparse prefill kernel: the shared ping-pong tiles and shared-memory map
// (sparse_common/tiles.h), the producer's gather map and the register split.
#pragma once

#include <cstdint>

#include "kernels/sm90/sparse_common/tiles.h"

namespace flashmla::sm90::sparse_prefill {

using sparse_common::kBlockM;
using sparse_common::kBlockN;
using sparse_common::kBoxBytes;
using sparse_common::kBoxCols;
using sparse_common::kChunkBytes;
using sparse_common::kConsumerThreads;
using sparse_common::kHalfV;
using sparse_common::kHeadDimV;
using sparse_common::kLaunchRegs;
using sparse_common::kMinBlocksPerSm;
using sparse_common::kThreads;
template <int kDQK>
using Config = sparse_common::Config<kDQK>;

// Producer thread t gathers 16-byte chunk (t % 8) of rows t / 8 + 16 i (i < 4) of each box: a warp's
// cp.async covers 4 whole 128-byte rows (4 L2 lines) and its 32 shared stores hit each of the 8
// swizzled 16-byte slots 4 times (4 wavefronts for 512 B: conflict-free).
constexpr int kProducerChunkLanes = 8;
constexpr int kProducerRowGroups = 128 / kProducerChunkLanes;        // 16 rows per pass
constexpr int kProducerRowsPerThread = kBlockN / kProducerRowGroups;  // 4
static_assert(kProducerRowsPerThread * kProducerRowGroups == kBlockN && kBlockM == kBlockN, "Q uses the same map");

// Register split (setmaxnreg): the launch gives 65536 / 384 = 168 per thread; the producer drops to 40,
// the consumers rise to 232 (O 128 + S 32 + P fragments 16 + softmax state and addresses).
constexpr int kProducerRegs = 40;
constexpr int kConsumerRegs = 232;
static_assert(128 * kProducerRegs + kConsumerThreads * kConsumerRegs <= kThreads * kLaunchRegs,
              "setmaxnreg: the warpgroups' registers must fit the launch allocation");

}  // namespace flashmla::sm90::sparse_prefill
