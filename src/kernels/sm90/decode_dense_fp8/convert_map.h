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

}  // namespace flashmla::sm90::dense_fp8::convert_map
