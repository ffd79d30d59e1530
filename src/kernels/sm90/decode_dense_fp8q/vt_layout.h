// The transposed V tile of the fp8-q QGMMA decode kernel, and the transposer's addresses: formulas
// shared by the kernel (transpose.cuh) and a CPU test that replays the transposer on a model of shared
// memory (tests/cpp/test_dense_fp8.cpp, DenseFp8qVt.*).
//
// Why a transpose: e4m3 WGMMA takes K-major operands only. For S = Q K^T the TMA'd page is K-major
// already (rows = tokens, 128 B = 128 channels). For O = P V the reduction runs over tokens, so V must be
// stored as V^T: one row of 64 token bytes per channel.
//
// Token order inside a V^T row (why no shuffle of P is needed): the e4m3 A fragment of m64nNk32 gives
// quad lane tq the k positions 4tq..4tq+3 and 16+4tq..16+4tq+3 of each 32-wide k-step, while the S
// accumulator gives it tokens 2tq, 2tq+1, 8+2tq, 9+2tq (+16) of each 32 tokens. P V sums over tokens,
// so any token order works if P and V^T agree: position q of a row holds token_at(q) below, exactly
// the token whose probability the A fragment puts at q.
//
// Layout (no swizzle; WGMMA core matrices of 8 channel rows x 16 positions, 128 B each): channel c,
// position q at (c / 8) * kVtGroupBytes + (q / 16) * 128 + (c % 8) * 16 + q % 16. The group stride
// 528 = 4 x 128 + 16 (not 512) puts channels c and c + 8 in different banks: the transposer's stmatrix
// writes rows of channels 2i (i = 0..7), which span two groups, conflict-free. Descriptor: LBO = 128 (K
// direction), SBO = 528 (N direction).
#pragma once

#include <cstdint>

#include "common/host_device.h"

namespace flashmla::sm90::dense_fp8q {

constexpr int kVtChannels = 512;
constexpr int kVtPositions = 64;
constexpr int kVtChunkBytes = 128;                           // one core matrix (K direction stride, LBO)
constexpr int kVtGroupBytes = 4 * kVtChunkBytes + 16;        // 8 channels x 64 positions + 16 B pad (SBO)
constexpr int kVtStageBytes = kVtChannels / 8 * kVtGroupBytes;  // 33 792
constexpr int kVtHalfBytes = kVtStageBytes / 2;              // channels 256.. start here (one consumer each)

FLASHMLA_HD constexpr int vt_offset(int channel, int position) {
  return (channel >> 3) * kVtGroupBytes + (position >> 4) * kVtChunkBytes + (channel & 7) * 16 + (position & 15);
}
// The token whose value position q (0..63) of a V^T row holds.
FLASHMLA_HD constexpr int token_at(int q) {
  return 32 * (q >> 5) + 16 * ((q >> 4) & 1) + 8 * ((q >> 1) & 1) + 2 * ((q >> 2) & 3) + (q & 1);
}

// The transposer: warp step (cc, ks) moves channels [16 cc, 16 cc + 16) x tokens [32 ks, 32 ks + 32).
// ldmatrix.x4.trans: lane l addresses row l % 8 (token 32 ks + 8 (l / 8) + l % 8) of matrix l / 8, the
// 16 B chunk of channel block cc in that token's 128B-swizzled row (box cc / 8, chunk (cc % 8) ^ (row %
// 8)). Offsets from the K stage's start.
FLASHMLA_HD constexpr int tr_load_offset(int lane, int cc, int ks) {
  return (cc >> 3) * 8192 + (32 * ks + lane) * 128 + (((cc & 7) ^ (lane & 7)) << 4);
}
// stmatrix.x4: lane l addresses row i = l % 8 of matrix m = l / 8, which holds channel 16 cc + 2 i +
// (m & 1) at positions 32 ks + 16 (m >> 1) .. + 15. Offsets from the V^T stage's start.
FLASHMLA_HD constexpr int tr_store_offset(int lane, int cc, int ks) {
  return vt_offset(16 * cc + 2 * (lane & 7) + ((lane >> 3) & 1), 32 * ks + 16 * (lane >> 4));
}
// The same offsets split the way the kernel computes them (a per-lane base, kept in a register, plus
// compile-time steps), for warp `warp` of the transposer moving channel blocks cc = 16 half + 4 warp + u
// (u = 0..3): (cc % 8) ^ (l % 8) = tr_load_xor ^ u since u < 4 and 4 (warp % 2) only sets bit 2.
// The CPU test checks both forms agree for every lane, warp, half, u and ks.
FLASHMLA_HD constexpr int tr_load_base(int lane, int warp) { return (warp >> 1) * 8192 + lane * 128; }
FLASHMLA_HD constexpr int tr_load_xor(int lane, int warp) { return (4 * (warp & 1)) ^ (lane & 7); }
FLASHMLA_HD constexpr int tr_load_split(int lane, int warp, int half, int u, int ks) {
  return half * 16384 + tr_load_base(lane, warp) + ks * 4096 + ((tr_load_xor(lane, warp) ^ u) << 4);
}
FLASHMLA_HD constexpr int tr_store_base(int lane, int warp) {
  return 4 * warp * (2 * kVtGroupBytes) + ((lane & 7) >> 2) * kVtGroupBytes + (lane >> 4) * kVtChunkBytes +
         (2 * (lane & 3) + ((lane >> 3) & 1)) * 16;
}
FLASHMLA_HD constexpr int tr_store_split(int lane, int warp, int half, int u, int ks) {
  return half * 16 * (2 * kVtGroupBytes) + tr_store_base(lane, warp) + u * (2 * kVtGroupBytes) + ks * 2 * kVtChunkBytes;
}

// Byte selectors of the register transpose: from r_m = {tok 2tq: ch 2p, 2p+1 | tok 2tq+1: ch 2p, 2p+1}
// (ldmatrix.trans, p = lane / 4) of matrices m and m + 1 (tokens +8), prmt picks channel 2p (even) or
// 2p + 1 (odd) of the four tokens 2tq, 2tq+1, 8+2tq, 9+2tq: positions 4tq..4tq+3 of that channel's row.
constexpr uint32_t kSelEvenChannel = 0x6420;
constexpr uint32_t kSelOddChannel = 0x7531;

}  // namespace flashmla::sm90::dense_fp8q
