// Compile-time plan of the dense FP8 decode split kernel with an e4m3 q on the FP8 tensor cores
// (QGMMA): tiles, warpgroup roles, shared-memory map, barrier ids. Every number is checked against the
// budget. kernel.cuh's top comment describes the pipeline; vt_layout.h the transposed V tile.
#pragma once

#include <cstdint>

#include "common/host_device.h"
#include "kernels/sm90/decode_dense_common/geometry.h"
#include "kernels/sm90/decode_dense_fp8q/vt_layout.h"

namespace flashmla::sm90::dense_fp8q {

// Tile geometry (64 query rows x 64-token pages, 576 = 512 + 64 channels), the consumers' register
// budget, the P tiles, row exchange and mbarrier area offsets and the consumers' named barriers are the
// bf16 kernel's (decode_dense_common/geometry.h); what lies below kSmemP0 is this kernel's own.
using namespace dense_common;

// e4m3 rows arrive by TMA as geometry.h's e4m3 boxes (5 of 64 rows x 128 B; the fifth box's channels
// 576..639 are TMA's zero fill and no k-step reads them).
constexpr int kF8TileBytes = kF8Boxes * kF8BoxBytes;   // 40960: Q tile or one K page
constexpr int kQkSteps = kHeadDim / 32;                // 18 k-steps of 32 channels for S = Q K^T

// Shared memory below the common P tiles (bytes from the 1024-aligned base):
//   Q      e4m3 64 x 576 as 5 boxes                         40 960
//   K      2 stages x one e4m3 page (5 boxes)                81 920   TMA; read by Q*K^T and the transposer
//   V^T    2 stages x the page's V transposed (vt_layout.h)  67 584   written by the transposer
//   carry max  256 consumer threads x 2 f32 (consumer_loop.cuh's carry_o)  2 048
//   (18 432 B free up to kSmemP0)
// then the common map: 2 P tiles (8 KB each; an e4m3 tile uses the first 4 KB), row exchange, mbarriers.
constexpr int kKStages = 2;  // = kStages: the consumer loop's stage index (page count & 1) picks both
constexpr int kSmemQ8 = 0;
constexpr int kSmemK8 = kSmemQ8 + kF8TileBytes;
constexpr int kSmemVt = kSmemK8 + kKStages * kF8TileBytes;
constexpr int kSmemCarryM = kSmemVt + kKStages * kVtStageBytes;
constexpr int kSmemVtEnd = kSmemCarryM + 256 * 8;
static_assert(kKStages == kStages, "the consumer loop indexes K and V^T stages with the same parity");
static_assert(kSmemK8 % 1024 == 0 && kSmemVt % 1024 == 0 && kF8TileBytes % 1024 == 0,
              "128B-swizzled TMA destinations must be 1024 B aligned");
static_assert(kSmemVtEnd <= kSmemP0, "Q + K stages + V^T stages must end below the common P tiles");
static_assert(kSmemP0 % 512 == 0 && kSmemP1 % 512 == 0, "64B-swizzled e4m3 P tiles must be 512 B aligned");

// Warpgroups: WG0 = TMA issuer + V transposer (all 128 threads transpose), WG1 / WG2 = consumers.
constexpr int kProducerThreads = 128;
constexpr int kFp8qProducerRegs = 56;
constexpr int kFp8qConsumerRegs = 224;
static_assert(128 * kFp8qProducerRegs + 256 * kFp8qConsumerRegs <= kThreads * kLaunchRegs,
              "setmaxnreg: registers taken by the consumers must be given up by the producer");

// mbarriers (8 B each) after the common map's row exchange:
//   q_full (TMA), q_empty (2 consumers), k_full[2] (TMA), k_empty[2] (Q*K^T's consumer + 128
//   transposer threads), vt_full[2][2] (128 transposer threads, per V half), vt_empty[2][2] (the half's
//   releasing consumer after its P*V), epilogue, p1_ready, p0_ready: 17 x 8 B.
constexpr int kNumMbarriers = 2 + 2 * kKStages + 4 * kKStages + 3;
constexpr int kSmemBarBytes = 256;
// softmax_scale * log2(e) * descale_q * descale_k and descale_k, computed once per CTA from the device
// descales (graph-safe), re-read from smem where needed.
constexpr int kSmemScale = kSmemBars + kNumMbarriers * 8;
constexpr int kSmemDescale = kSmemScale + 4;
constexpr int kSmemUsed = kSmemBars + kSmemBarBytes;
constexpr int kSmemAlignSlack = 1024;  // the dynamic smem base is only 16 B aligned
constexpr int kSmemBytes = kSmemUsed + kSmemAlignSlack;
static_assert(kNumMbarriers * 8 + 8 <= kSmemBarBytes, "mbarrier area + scale words");
static_assert(kSmemBytes <= 227 * 1024, "shared memory: 227 KB per block on sm_90");

// P is quantized as p' = 2^8 p (p <= 1 at the running max, so p' <= 256 < 448): e4m3's normal range
// then holds p >= 2^-14 instead of 2^-6. The row sums accumulate p' in fp32, so the factor cancels in
// O / l; the epilogue divides l by 2^8 for the LSE (exact).
constexpr float kPScaleLog2 = 8.0f;
constexpr float kPScaleInv = 1.0f / 256.0f;

}  // namespace flashmla::sm90::dense_fp8q
