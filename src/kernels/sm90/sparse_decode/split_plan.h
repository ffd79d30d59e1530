// The split of the sm90 sparse decode's top-k lists across CTAs, and its workspace layout: plain host C++
// shared by the API (sparse_decode_workspace_size) and the launcher (launch.cu), so that both compute the
// same numbers from the same shapes. No device state is read here (no host synchronization).
//
// One split count n per launch, chosen from shapes only (the per-request topk_length is read by the
// kernel: each CTA divides its request's actual number of 64-token blocks evenly among the n splits):
//   ctas = b * s_q * ceil(h_q / 64)
//   ctas >= num_sms                      -> n = 1 (the grid is already full: the unsplit kernel, no combine)
//   else n_max = min(floor(num_sms / ctas), floor(static_blocks / kMinBlocksPerSplit)),
//        n     = ceil(static_blocks / ceil(static_blocks / n_max))
// i.e. at most one wave, at least kMinBlocksPerSplit blocks per split (of the static list), and the
// smallest n with the same per-split block count as n_max (fewer partials to write and merge for the
// same critical path). static_blocks = ceil(topk / 64) + ceil(extra_topk / 64).
// A forced count (SparseDecodeArgs::num_splits >= 1) is clamped to [1, static_blocks].
//
// Workspace (n > 1), offsets from the workspace base (16-byte aligned):
//   partial_o   float [b * n, s_q, h_q, 512]   normalised partial outputs (slot = request * n + split)
//   partial_lse float [b * n, s_q, h_q]        natural log; -inf = the split saw no valid token
//   prefix      int32 [b + 1]                  request i's slots are prefix[i] .. prefix[i + 1] (= i * n)
//   status      int32                          0 (the combine's "schedule is valid" word)
// prefix and status are written by CTA 0 of the split kernel, so the workspace needs no initialisation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flashmla::sm90::sparse_decode {

constexpr int kSplitTokensPerBlock = 64;  // = config.h kTokensPerBlock (static_assert in launch.cu)
constexpr int kSplitHeadsPerCta = 64;     // = config.h kHeadsPerCta
constexpr int kMinBlocksPerSplit = 2;     // a split's fixed cost (Q tile, partial write, its combine share)
                                          // is about one block: fewer than 2 blocks per split do not pay
constexpr int kMaxSmsSm90 = 132;          // the most SMs of any sm_90 part (H100/H200/H800 SXM): the bound
                                          // sparse_decode_workspace_size() sizes for
constexpr int64_t kMaxCombineRows = 65535;  // s_q * h_q of a split launch: the combine's grid.y

struct SplitPlan {
  int32_t num_splits = 1;  // n
  int64_t ctas = 0;        // b * s_q * ceil(h_q / 64), before the split
  // Workspace (all 0 when n == 1).
  size_t partial_o_offset = 0, partial_lse_offset = 0, prefix_offset = 0, status_offset = 0;
  size_t workspace_bytes = 0;
  bool overflow = false;  // the sizes do not fit (only reachable with an absurd forced count)
};

inline int64_t static_blocks(int64_t topk, int64_t extra_topk) {
  return (topk + kSplitTokensPerBlock - 1) / kSplitTokensPerBlock +
         (extra_topk + kSplitTokensPerBlock - 1) / kSplitTokensPerBlock;
}

// forced: 0 = automatic, >= 1 = that many splits (clamped). Arguments are validated shapes (>= 0).
inline SplitPlan make_split_plan(int64_t batch, int64_t s_q, int64_t h_q, int64_t topk, int64_t extra_topk,
                                 int num_sms, int32_t forced) {
  SplitPlan p;
  p.ctas = batch * s_q * ((h_q + kSplitHeadsPerCta - 1) / kSplitHeadsPerCta);
  const int64_t blocks = static_blocks(topk, extra_topk);
  int64_t n = 1;
  if (forced >= 1) {
    n = forced < blocks ? forced : blocks;
  } else if (p.ctas > 0 && p.ctas < num_sms && blocks >= 2 * kMinBlocksPerSplit) {
    int64_t n_max = num_sms / p.ctas;
    if (n_max > blocks / kMinBlocksPerSplit) n_max = blocks / kMinBlocksPerSplit;
    if (n_max > 1) {
      const int64_t per_split = (blocks + n_max - 1) / n_max;
      n = (blocks + per_split - 1) / per_split;
    }
  }
  if (n < 1) n = 1;
  p.num_splits = static_cast<int32_t>(n);
  if (n == 1) return p;
  // Sizes in 128 bits: a forced n times b * s_q * h_q rows of 2 KB can exceed 64 bits.
  const unsigned __int128 rows = static_cast<unsigned __int128>(batch) * n * s_q * h_q;
  const unsigned __int128 o_bytes = rows * 512 * 4, lse_bytes = (rows * 4 + 15) / 16 * 16;
  const unsigned __int128 prefix_bytes = static_cast<unsigned __int128>(batch + 1) * 4;
  const unsigned __int128 total = o_bytes + lse_bytes + prefix_bytes + 4;
  if (total > (static_cast<unsigned __int128>(1) << 62)) {
    p.overflow = true;
    return p;
  }
  p.partial_o_offset = 0;
  p.partial_lse_offset = static_cast<size_t>(o_bytes);
  p.prefix_offset = static_cast<size_t>(o_bytes + lse_bytes);
  p.status_offset = static_cast<size_t>(o_bytes + lse_bytes + prefix_bytes);
  p.workspace_bytes = static_cast<size_t>(total);
  return p;
}

}  // namespace flashmla::sm90::sparse_decode
