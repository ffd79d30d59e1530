// Context-parallel decode simulated on the CPU backend: every cp_decode_cases() case is split over
// the ranks of every cp_plans() plan (contiguous and interleaved, page-granular shards that reuse the
// global cache through per-rank block tables, token-granular shards repacked into caches of their own),
// decoded per rank through flashmla::decode, merged with flashmla::merge_partial_attention, and
// compared with one decode of the whole cache within the merged bound of testing/cp_shards.h.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "cases.h"
#include "cp_shards.h"
#include "flashmla/flashmla.h"

using namespace flashmla;
using namespace flashmla::test;

namespace {

class CpuCpDecode : public ::testing::TestWithParam<CpCase> {};

TEST_P(CpuCpDecode, MergedShardsEqualFullDecode) {
  const CpCase& prm = GetParam();
  HostCase full = make_case(prm.spec);
  {
    const CaseViews v = host_views(full);
    const Status st = decode(make_decode_args(full.spec, v));
    ASSERT_TRUE(st.ok()) << prm.name << " full decode: " << st.message();
  }
  std::vector<HostCase> shards = shard_case(full, prm.plan);
  const int32_t n = prm.plan.ranks;
  const CaseDims& d = full.dims;
  std::vector<uint16_t> parts_out(static_cast<size_t>(n * d.out_numel()), 0xFFFF);
  std::vector<float> parts_lse(static_cast<size_t>(n * d.lse_numel()), std::nanf(""));
  for (int32_t r = 0; r < n; ++r) {
    HostCase& sh = shards[r];
    CasePointers ptrs{sh.q.data(), sh.k_cache.data(), sh.block_table.data(), sh.seqlens.data(),
                      parts_out.data() + r * d.out_numel(), parts_lse.data() + r * d.lse_numel()};
    const CaseViews v = make_views(sh.dims, sh.spec.dtype, ptrs);
    const Status st = decode(make_decode_args(sh.spec, v));
    ASSERT_TRUE(st.ok()) << sh.spec.name << " decode: " << st.message();
  }
  std::vector<uint16_t> merged_out(static_cast<size_t>(d.out_numel()), 0xFFFF);
  std::vector<float> merged_lse(static_cast<size_t>(d.lse_numel()), std::nanf(""));
  MergeArgs m;
  m.outs = make_view(parts_out.data(), full.spec.dtype, {n, d.batch, d.s_q, d.h_q, kDV});
  m.lses = make_view(parts_lse.data(), DType::kFP32, {n, d.batch, d.h_q, d.s_q});
  m.out = make_view(merged_out.data(), full.spec.dtype, {d.batch, d.s_q, d.h_q, kDV});
  m.lse = make_view(merged_lse.data(), DType::kFP32, {d.batch, d.h_q, d.s_q});
  const Status st = merge_partial_attention(m);
  ASSERT_TRUE(st.ok()) << prm.name << " merge: " << st.message();
  const std::string err = check_merged(full, merged_out, merged_lse, parts_out, parts_lse, n, kMergedFromCpu);
  EXPECT_TRUE(err.empty()) << prm.name << ": " << err;
}

INSTANTIATE_TEST_SUITE_P(Cases, CpuCpDecode, ::testing::ValuesIn(cp_cases()),
                         [](const ::testing::TestParamInfo<CpCase>& i) { return i.param.name; });

TEST(CpShards, TokensArePartitioned) {
  for (const ShardPlan& p : cp_plans())
    for (int32_t L : {0, 1, 63, 64, 65, 1000}) {
      std::vector<int> seen(L, 0);
      for (int32_t r = 0; r < p.ranks; ++r)
        for (int64_t t : rank_tokens(L, r, p)) {
          ASSERT_TRUE(t >= 0 && t < L) << p.name();
          ++seen[t];
        }
      for (int32_t t = 0; t < L; ++t) ASSERT_EQ(seen[t], 1) << p.name() << " L " << L << " token " << t;
    }
}

TEST(CpShards, RefusesCausalMultiToken) {
  HostCase c = make_case(list_case({70}, 2, 2, 1, true, DType::kBF16));
  EXPECT_THROW(shard_case(c, ShardPlan{}), std::invalid_argument);
}

}  // namespace
