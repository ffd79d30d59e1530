// CPU checks of the fp8-q QGMMA kernel's shared-memory plan (src/kernels/sm90/decode_dense_fp8q/): the
// V^T token order agrees with the e4m3 A fragment of P, the transposer (ldmatrix.trans -> prmt ->
// stmatrix) replayed on a tagged model of shared memory writes every V^T byte with the right (token,
// channel), the address forms the kernel uses agree with the reference formulas, and its 16-byte
// accesses are bank-conflict-free. The GPU tests (test_gpu_dense_fp8.cpp) then check the numbers.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <vector>

#include "kernels/sm90/decode_dense_fp8q/vt_layout.h"

namespace flashmla::sm90::dense_fp8q {
namespace {

// The tag of cache byte (token, channel): unique over a page.
int32_t tag(int token, int channel) { return token * 1024 + channel; }

// A K stage as the TMA writes it: 5 boxes of 64 rows x 128 B, 16 B chunk c of row r at c ^ (r % 8).
std::vector<int32_t> k_stage_model() {
  std::vector<int32_t> m(5 * 8192, -1);
  for (int t = 0; t < 64; ++t)
    for (int c = 0; c < 576; ++c) {
      const int box = c / 128, cb = c % 128;
      m[box * 8192 + t * 128 + (((cb / 16) ^ (t % 8)) * 16) + cb % 16] = tag(t, c);
    }
  return m;
}

// PTX prmt.b32 (default mode): byte i of the result = byte (sel >> 4i) & 7 of {b, a} (a = bytes 0..3).
void prmt(const int32_t (&a)[4], const int32_t (&b)[4], uint32_t sel, int32_t (&d)[4]) {
  for (int i = 0; i < 4; ++i) {
    const int k = (sel >> (4 * i)) & 7;
    d[i] = k < 4 ? a[k] : b[k - 4];
  }
}

TEST(DenseFp8qVt, TokenOrderIsThePFragmentOrder) {
  std::set<int> seen;
  for (int q = 0; q < 64; ++q) seen.insert(token_at(q));
  EXPECT_EQ(seen.size(), 64u);
  EXPECT_EQ(*seen.begin(), 0);
  EXPECT_EQ(*seen.rbegin(), 63);
  // A fragment of m64nNk32 (8-bit): quad lane tq holds k = 4tq + e (+16); the softmax packs accumulator
  // columns 8j + 2tq + (e & 1) with j = 4 ks + 2 hi + (e >> 1) there (kernel.cuh's softmax).
  for (int ks = 0; ks < 2; ++ks)
    for (int hi = 0; hi < 2; ++hi)
      for (int tq = 0; tq < 4; ++tq)
        for (int e = 0; e < 4; ++e) {
          const int j = 4 * ks + 2 * hi + (e >> 1);
          EXPECT_EQ(token_at(32 * ks + 16 * hi + 4 * tq + e), 8 * j + 2 * tq + (e & 1))
              << "ks " << ks << " hi " << hi << " tq " << tq << " e " << e;
        }
}

TEST(DenseFp8qVt, KernelAddressFormsMatchTheReference) {
  for (int warp = 0; warp < 4; ++warp)
    for (int half = 0; half < 2; ++half)
      for (int u = 0; u < 4; ++u)
        for (int ks = 0; ks < 2; ++ks)
          for (int lane = 0; lane < 32; ++lane) {
            const int cc = 16 * half + 4 * warp + u;
            ASSERT_EQ(tr_load_split(lane, warp, half, u, ks), tr_load_offset(lane, cc, ks))
                << "warp " << warp << " half " << half << " u " << u << " ks " << ks << " lane " << lane;
            ASSERT_EQ(tr_store_split(lane, warp, half, u, ks), tr_store_offset(lane, cc, ks))
                << "warp " << warp << " half " << half << " u " << u << " ks " << ks << " lane " << lane;
          }
}

// The whole transposer on the model: every warp's steps in both halves, then every V^T byte checked.
TEST(DenseFp8qVt, TransposeReplay) {
  const std::vector<int32_t> k = k_stage_model();
  std::vector<int32_t> vt(kVtStageBytes, -1);
  std::vector<int> writes(kVtStageBytes, 0);
  for (int warp = 0; warp < 4; ++warp)
    for (int half = 0; half < 2; ++half)
      for (int u = 0; u < 4; ++u)
        for (int ks = 0; ks < 2; ++ks) {
          // ldmatrix.x4.trans: row i of matrix m is the 16 B at lane 8m + i's address; lane l receives
          // (row 2 (l%4), 16-bit column l/4) and (row 2 (l%4) + 1, column l/4) of each matrix.
          int32_t reg[32][4][4];
          for (int l = 0; l < 32; ++l)
            for (int m = 0; m < 4; ++m)
              for (int h = 0; h < 2; ++h) {
                const int row_addr = tr_load_split(8 * m + 2 * (l % 4) + h, warp, half, u, ks);
                for (int b = 0; b < 2; ++b) reg[l][m][2 * h + b] = k[row_addr + 2 * (l / 4) + b];
              }
          // Bank groups of each matrix's 8 row reads: distinct.
          for (int m = 0; m < 4; ++m) {
            std::set<int> banks;
            for (int i = 0; i < 8; ++i) banks.insert((tr_load_split(8 * m + i, warp, half, u, ks) / 16) % 8);
            EXPECT_EQ(banks.size(), 8u) << "ldmatrix bank conflict: warp " << warp << " u " << u << " ks " << ks;
          }
          // prmt, then stmatrix: lane l's w[m] is row l/4, bytes 4 (l%4) .. +3 of matrix m, whose row i is at
          // lane 8m + i's address.
          for (int l = 0; l < 32; ++l) {
            int32_t w[4][4];
            prmt(reg[l][0], reg[l][1], kSelEvenChannel, w[0]);
            prmt(reg[l][0], reg[l][1], kSelOddChannel, w[1]);
            prmt(reg[l][2], reg[l][3], kSelEvenChannel, w[2]);
            prmt(reg[l][2], reg[l][3], kSelOddChannel, w[3]);
            for (int m = 0; m < 4; ++m) {
              const int row_addr = tr_store_split(8 * m + l / 4, warp, half, u, ks);
              for (int b = 0; b < 4; ++b) {
                vt[row_addr + 4 * (l % 4) + b] = w[m][b];
                ++writes[row_addr + 4 * (l % 4) + b];
              }
            }
          }
          for (int m = 0; m < 4; ++m) {
            std::set<int> banks;
            for (int i = 0; i < 8; ++i) banks.insert((tr_store_split(8 * m + i, warp, half, u, ks) / 16) % 8);
            EXPECT_EQ(banks.size(), 8u) << "stmatrix bank conflict: warp " << warp << " u " << u << " ks " << ks;
          }
        }
  int checked = 0;
  for (int c = 0; c < kVtChannels; ++c)
    for (int q = 0; q < kVtPositions; ++q) {
      const int off = vt_offset(c, q);
      ASSERT_EQ(writes[off], 1) << "V^T byte of channel " << c << " position " << q << " written " << writes[off] << "x";
      ASSERT_EQ(vt[off], tag(token_at(q), c)) << "channel " << c << " position " << q << ": got token "
                                               << vt[off] / 1024 << " channel " << vt[off] % 1024;
      ++checked;
    }
  EXPECT_EQ(checked, 512 * 64);
  int total_writes = 0;
  for (int n : writes) total_writes += n;
  EXPECT_EQ(total_writes, 512 * 64) << "writes outside the V^T cells (into the padding)";
  EXPECT_EQ(vt_offset(256, 0), kVtHalfBytes) << "channels 256.. (consumer 1's half) start at kVtHalfBytes";
}

// The e4m3 P tile (64B swizzle, kernel.cuh's store_p): a warp's store of one chunk over its 8 rows hits
// 8 distinct bank groups, and the tile's rows x chunks are all distinct cells.
TEST(DenseFp8qVt, PTileStoresConflictFree) {
  std::set<int> cells;
  for (int w = 0; w < 4; ++w)
    for (int c = 0; c < 4; ++c)
      for (int half = 0; half < 2; ++half) {
        std::set<int> banks;
        for (int g = 0; g < 8; ++g) {
          const int r = 16 * w + g + 8 * half;
          const int addr = r * 64 + ((c ^ ((r >> 1) & 3)) << 4);
          banks.insert((addr / 16) % 8);
          cells.insert(addr);
        }
        EXPECT_EQ(banks.size(), 8u) << "warp " << w << " chunk " << c;
      }
  EXPECT_EQ(cells.size(), 64u * 4u);
}

}  // namespace
}  // namespace flashmla::sm90::dense_fp8q
