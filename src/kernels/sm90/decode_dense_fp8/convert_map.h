// The converter's thread -> chunk map (convert.cuh), as plain host + device functions so that a CPU
// test (tests/cpp/test_dense_fp8.cpp) checks the exact formulas the kernel uses: every bf16 element
// written once with the right source byte, no write reaching a staging byte not yet read (in-place
// conversion), and conflict-free 16-byte shared-memory accesses.
#pragma once

#include <cstdint>

#include "common/host_device.h"

namespace flashmla::sm90::dense_fp8::convert_map {

// Thread t (0..127) of the producer warpgroup, warp w = t / 32: in every fp8 box, chunk j (0..3) of
// thread t is row row0(t) + 8 (j / 2) of that box, logical 16-byte chunk lchunk(t, j) (channels
// 16 lc .. + 15). Warp w owns rows 16 w .. 16 w + 15 of every box (fp8 and bf16), so every staging
// byte a warp overwrites in place was read by that same warp: the warps never wait for each other
// (a __syncwarp orders a warp's reads before its writes). Per access instruction (j fixed) the 8
// threads of a quarter-warp take rows (r, r + 1), threads 0-3 row r, 4-7 row r + 1, and 4 logical
// chunks each: the first row's 4 s .. 4 s + 3, the second row's the other four, s = ((t % 8) / 4) ^ (j % 2).
FLASHMLA_HD int row0(int t) { return 16 * (t >> 5) + 2 * ((t >> 3) & 3) + ((t & 7) >> 2); }
FLASHMLA_HD int lchunk(int t, int j) { return (t & 3) + 4 * ((((t & 7) >> 2) ^ j) & 1); }
FLASHMLA_HD bool hi_box(int t, int j) { return lchunk(t, j) >= 4; }  // -> bf16 box 2f + 1
// Byte offsets of chunk j = 0 of box f = 0, relative to the fp8 staging base / the bf16 destination
// base (128B swizzle: 16-byte chunk c of row r at c ^ (r % 8)). The bf16 offset is that of the first
// of the two bf16 chunks (channels 0-7 of the fp8 chunk); the second is at offset ^ 16.
FLASHMLA_HD uint32_t read_base(int t) {
  const int row = row0(t);
  return static_cast<uint32_t>(row * 128 + ((lchunk(t, 0) ^ (row & 7)) << 4));
}
FLASHMLA_HD uint32_t write_base(int t, int bf16_box_bytes) {
  const int row = row0(t);
  return static_cast<uint32_t>((hi_box(t, 0) ? bf16_box_bytes : 0) + row * 128 + (((2 * (t & 3)) ^ (row & 7)) << 4));
}
// Chunk j of box f: rows 8 (j / 2) further (same swizzle phase); odd j = the other half of the row's
// chunks, i.e. physical chunk ^ 4 (fp8: byte offset ^ 64, valid on a 1024 B aligned base) and the
// other bf16 box of the pair (write_hi_delta: +box if chunk 0 went to box 2f, -box otherwise).
FLASHMLA_HD uint32_t read_off(uint32_t base, int f, int j, int f8_box_bytes) {
  return (base + static_cast<uint32_t>(f * f8_box_bytes + 1024 * (j >> 1))) ^ static_cast<uint32_t>(64 * (j & 1));
}
FLASHMLA_HD int write_hi_delta(int t, int bf16_box_bytes) { return hi_box(t, 0) ? -bf16_box_bytes : bf16_box_bytes; }
FLASHMLA_HD uint32_t write_off(uint32_t base, int hi_delta, int f, int j, int bf16_box_bytes) {
  return base + static_cast<uint32_t>(f * 2 * bf16_box_bytes + 1024 * (j >> 1) + ((j & 1) ? hi_delta : 0));
}

// In-place order (convert.cuh): every thread reads all four chunks of fp8 box f, then -- only where
// needed -- its warp syncs, then every thread writes box f's bf16 chunks. The bf16
// writes of box f cover [2 f, 2 f + 2) bf16 boxes from the destination ([2 f, 2 f + 1) for a RoPE tail),
// fp8 box j is staged at [staging_offset + j f8_box, + f8_box). A sync before box f's writes orders
// them after the warp's reads of boxes 0..f; without one they may race with any read issued since
// the last sync (a warp only ever overwrites rows it reads itself, see row0). So box f needs a sync
// iff its writes overlap the staging of a box read since the last sync (boxes c+1..f, c = the last
// box that had one). Boxes j > f are read later by
// construction and must never be overlapped (the CPU replay test checks this with tagged bytes).
FLASHMLA_HD constexpr bool ranges_overlap(int a0, int a1, int b0, int b1) { return a0 < b1 && b0 < a1; }
FLASHMLA_HD constexpr bool sync_before_write(int f, int num_f8, bool rope_tail, int staging_offset,
                                                int bf16_box_bytes, int f8_box_bytes) {
  int covered = -1;  // boxes 0..covered were read before the last sync
  for (int g = 0; g <= f; ++g) {
    const int w0 = 2 * g * bf16_box_bytes;
    const int w1 = w0 + (rope_tail && g == num_f8 - 1 ? 1 : 2) * bf16_box_bytes;
    bool need = false;
    for (int j = covered + 1; j <= g; ++j)
      need = need || ranges_overlap(w0, w1, staging_offset + j * f8_box_bytes, staging_offset + (j + 1) * f8_box_bytes);
    if (g == f) return need;
    if (need) covered = g;
  }
  return false;
}

}  // namespace flashmla::sm90::dense_fp8::convert_map
