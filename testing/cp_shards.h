// Context-parallel decode, simulated on one device: a decode case's KV cache split over n "ranks".
//
// Each request's tokens are assigned to ranks in blocks of `granularity` tokens, either contiguously
// (rank r gets tokens [start_r, start_{r+1}), start_r = floor(r * L / n) rounded down to the
// granularity) or interleaved (block j goes to rank j % n). A rank's shard is a HostCase of its own:
// the same q, its tokens in their original order as a request of local length L_r (the cache positions
// of keys do not matter to attention without a causal mask), its own block table:
//   - granularity a multiple of the page size: the shard keeps the global cache and its block table
//     lists the global ids of its pages (a subset of the request's pages; the last partial page can only
//     be a shard's last page, so every shard's tail rows are NaN, as in the full cache);
//   - otherwise the rank's tokens are repacked into fresh pages of a cache of its own, whose unused
//     rows and spare pages are NaN and whose unused block-table entries hold garbage ids.
// Decode on every shard then merge_partial_attention equals the decode of the whole cache, exactly in
// real arithmetic, for s_q = 1 or a non-causal mask. The end-aligned causal mask with s_q > 1 lets
// query token j see keys [0, L - (s_q - 1 - j)): a rank would have to mask by GLOBAL position, which
// a decode over a shard of local length L_r cannot express (it would hide the shard's last local keys
// instead of the request's last global keys) -- hence shard_case refuses causal s_q > 1.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "cases.h"
#include "compare.h"

namespace flashmla::test {

enum class ShardLayout { kContiguous, kInterleaved };

struct ShardPlan {
  int32_t ranks = 2;
  ShardLayout layout = ShardLayout::kContiguous;
  int32_t granularity = kPage;  // tokens per assigned block
  std::string name() const;     // e.g. "contig2_g64", "inter4_g1"
};

// Rank r's token positions of a request of length L, ascending.
std::vector<int64_t> rank_tokens(int32_t L, int32_t rank, const ShardPlan& plan);

// The n shards of `full` (out and lse NaN-poisoned). Throws std::invalid_argument for causal s_q > 1.
std::vector<HostCase> shard_case(const HostCase& full, const ShardPlan& plan);

// The tolerance of a merged result against the full-cache decode. The merge of exact partials is exact;
// what differs is rounding: each partial out_i is rounded to 16 bits (or carries the GPU decode's own
// error, within the dense tolerance), and the merged out is rounded once more. Per element:
//   |merged - full| <= atol + partial_rtol * sum_i w_i |out_i| + 2^-7 |full|
// with w_i = exp(lse_i - lse): the partials' errors weighted as the merge weights them (without
// cancellation sum_i w_i |out_i| = |out|), plus half an ulp for the merged rounding and half an ulp
// for the reference's own rounding (2^-8 each, bf16). CPU partials: partial_rtol = 2^-8 (half an ulp),
// atol 1e-6; GPU partials: the dense tolerance, partial_rtol = 2.01/128, atol = 8e-4. lse: the dense
// lse tolerance (the merged lse moves by at most the largest partial's error, plus one rounding).
struct MergedTolerance {
  double atol;
  double partial_rtol;
};
inline constexpr MergedTolerance kMergedFromCpu{1e-6, 1.0 / 256};
inline constexpr MergedTolerance kMergedFromGpu{8e-4, 2.01 / 128};

// merged_out [b, s_q, h_q, 512] and merged_lse [b, h_q, s_q] (16-bit / fp32, contiguous) against
// full.out / full.lse; parts_out [n, b, s_q, h_q, 512] and parts_lse [n, b, h_q, s_q] the partials.
// Returns "" when every element passes, else the first failure and the worst element, with indices.
std::string check_merged(const HostCase& full, const std::vector<uint16_t>& merged_out,
                         const std::vector<float>& merged_lse, const std::vector<uint16_t>& parts_out,
                         const std::vector<float>& parts_lse, int32_t n, const MergedTolerance& tol);

// The decode cases of the simulation (s_q = 1 causal and not, s_q = 2 non-causal) and the plans.
std::vector<CaseSpec> cp_decode_cases();
std::vector<ShardPlan> cp_plans();

// Every case x plan, named "<case>_<plan>" (gtest parameters of the CPU and GPU simulations).
struct CpCase {
  CaseSpec spec;
  ShardPlan plan;
  std::string name;
};
std::vector<CpCase> cp_cases();
inline void PrintTo(const CpCase& c, std::ostream* os) { *os << c.name; }

}  // namespace flashmla::test
