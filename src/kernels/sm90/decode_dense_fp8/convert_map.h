// The converter's thread -> chunk map (convert.cuh), as plain host + device functions so that a CPU
// test (tests/cpp/test_dense_fp8.cpp) checks the exact formulas the kernel uses: every bf16 element
// written once with the right source byte, no write reaching a staging byte not yet read (in-place
// conversion), and conflict-free 16-byte shared-memory accesses.
#pragma once

#include <cstdint>

#include "common/host_device.h"

namespace flashmla::sm90::dense_fp8::convert_map {

// Thread t (0..127) of the producer warpgroup, in every pass: chunk u (0, 1) of pass h (0, 1) of fp8 box
// f is row row0(t) + 16 u + 32 h of that box, logical 16-byte chunk lchunk(t) (channels 16 lc .. + 15).
FLASHMLA_HD int row0(int t) { return 2 * ((t >> 4) & 7) + ((t & 7) >> 2); }
FLASHMLA_HD int lchunk(int t) { return (t & 3) + 4 * ((((t & 7) >> 2) ^ (t >> 3)) & 1); }
// Byte offsets of chunk u = 0 of pass (f = 0, h = 0), relative to the fp8 staging base / the bf16
// destination base (128B swizzle: 16-byte chunk c of row r at c ^ (r % 8)). The bf16 offset is that of
// the first of the two bf16 chunks (channels 0-7 of the fp8 chunk); the second is at offset ^ 16.
FLASHMLA_HD uint32_t read_base(int t) {
  const int row = row0(t);
  return static_cast<uint32_t>(row * 128 + ((lchunk(t) ^ (row & 7)) << 4));
}
FLASHMLA_HD uint32_t write_base(int t, int bf16_box_bytes) {
  const int row = row0(t), lc = lchunk(t);
  return static_cast<uint32_t>((lc >= 4 ? bf16_box_bytes : 0) + row * 128 + (((2 * (lc & 3)) ^ (row & 7)) << 4));
}
// What pass (f, h) and chunk u add: rows 16 u + 32 h further (a multiple of 8 rows: same swizzle
// phase), fp8 box f / bf16 boxes 2f, 2f+1 further.
FLASHMLA_HD uint32_t read_step(int f, int h, int u, int f8_box_bytes) {
  return static_cast<uint32_t>(f * f8_box_bytes + (32 * h + 16 * u) * 128);
}
FLASHMLA_HD uint32_t write_step(int f, int h, int u, int bf16_box_bytes) {
  return static_cast<uint32_t>(f * 2 * bf16_box_bytes + (32 * h + 16 * u) * 128);
}

// In-place order (convert.cuh): every thread reads all four chunks of fp8 box f, then -- only where
// needed -- the warpgroup meets at a barrier, then every thread writes box f's bf16 chunks. The bf16
// writes of box f cover [2 f, 2 f + 2) bf16 boxes from the destination ([2 f, 2 f + 1) for a RoPE tail),
// fp8 box j is staged at [staging_offset + j f8_box, + f8_box). A barrier before box f's writes orders
// them after every thread's reads of boxes 0..f; without one they may race with any read issued since
// the last barrier. So box f needs a barrier iff its writes overlap the staging of a box read since
// the last barrier (boxes c+1..f, c = the last box that had one). Boxes j > f are read later by
// construction and must never be overlapped (the CPU replay test checks this with tagged bytes).
FLASHMLA_HD constexpr bool ranges_overlap(int a0, int a1, int b0, int b1) { return a0 < b1 && b0 < a1; }
FLASHMLA_HD constexpr bool barrier_before_write(int f, int num_f8, bool rope_tail, int staging_offset,
                                                int bf16_box_bytes, int f8_box_bytes) {
  int covered = -1;  // boxes 0..covered were read before the last barrier
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
