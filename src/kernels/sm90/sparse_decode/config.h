// Compile-time plan of the sm90 sparse decode: the shared ping-pong tiles and shared-memory map
// (sparse_common/tiles.h: Q + two bf16 K stages + P), the producer's gather/convert map and the register
// split. Every number is checked by a static_assert.
#pragma once

#include <cstdint>

#include "common/kv_format.h"
#include "kernels/sm90/sparse_common/tiles.h"

namespace flashmla::sm90::sparse_decode {

using sparse_common::kBlockN;
using sparse_common::kBoxBytes;
using sparse_common::kConsumerThreads;
using sparse_common::kHalfV;
using sparse_common::kLaunchRegs;
using sparse_common::kThreads;

constexpr int kHeadsPerCta = sparse_common::kBlockM;  // query heads of one CTA = WGMMA M (zero rows past h_q)
constexpr int kTokensPerBlock = kBlockN;              // cache tokens gathered, converted and attended per step
static_assert(2 * kHalfV == kvfmt::kHeadDimV, "the consumers' O halves cover the 512 value channels");

// The shared-memory map of a format: the ping-pong Config of its d_qk (V32 576: 226.7 KB; MODEL1 512:
// 201 KB, with the alignment slack), 1 CTA per SM.
template <class Fmt>
using Config = sparse_common::Config<Fmt::kDimQK>;

// Producer map (128 threads): thread t handles rows rg + 16 i (i < 4) of each 64-token step, rg = t % 16,
// and, with sub = t / 16, a = sub / 2, e = sub % 2, the four 16-byte NoPE pieces 8a + 4e .. + 3 of each
// row (16 e4m3 values each). A thread's pieces of a row share one scale (V32: scale a covers channels
// 128a ..; MODEL1: scale 2a + e covers 64 (2a + e) ..), one 4-byte / 1-byte load per row, and a 16-byte
// store phase (8 lanes) covers 8 consecutive rows: conflict-free through the swizzle (producer.cuh
// Lane). MODEL1 has 28 pieces per token: sub = 7 converts nothing. RoPE (64 bf16, already bf16 in the
// cache) is copied with cp.async, chunk `sub` of each row.
constexpr int kProducerRowGroups = 16;                                    // rows per pass (t % 16)
constexpr int kProducerSubs = 128 / kProducerRowGroups;                   // 8 lanes per row (t / 16)
constexpr int kProducerRowsPerThread = kTokensPerBlock / kProducerRowGroups;  // 4
constexpr int kPiecesPerRowThread = 4;                                   // k < 4
static_assert(kProducerRowsPerThread * kProducerRowGroups == kTokensPerBlock && kHeadsPerCta == kTokensPerBlock,
              "Q uses the same row map");

template <class Fmt>
struct Gather {
  static constexpr bool kV32 = Fmt::kFormat == KvFormat::kSparseV32;
  static constexpr int kNopePieces = Fmt::kNopeDim / 16;           // 32 / 28
  static constexpr int kRopeByte = Fmt::kRopeOffset;              // in the token's (data) row: 528 / 448
  static constexpr int kRopeBox = Fmt::kNopeDim / 64;             // 8 / 7: the box after the NoPE boxes
  static_assert(Fmt::kNopeDim % 64 == 0 && Fmt::kRopeDim == 64, "NoPE in whole boxes, RoPE one box");
  static_assert(kNopePieces <= 8 * kPiecesPerRowThread, "the piece map covers the NoPE part");
};

// Register split (setmaxnreg): 384 x 168 at launch = 64 512. Consumers 192 (O 128 + S 32 + P fragments 16
// + softmax state), producer 120: 64 registers of NoPE loads in flight (4 rows x 4 pieces x 16 B) + 4
// scales + row addresses + the next block's indices. ptxas (nvcc 13.0): 0 spills at 192 / 120; at
// 208 / 88 the producer spills ~1 KB.
constexpr int kProducerRegs = 120;
constexpr int kConsumerRegs = 192;
static_assert(128 * kProducerRegs + kConsumerThreads * kConsumerRegs <= kThreads * kLaunchRegs,
              "setmaxnreg: the warpgroups' registers must fit the launch allocation");

}  // namespace flashmla::sm90::sparse_decode
