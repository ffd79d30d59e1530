// Splitting the KV sequence across partitions and merging the partial results with log-sum-exp
// weights (test::decode_split_combine, the reference of the GPU path) equals the unsplit decode within
// the project's tolerances, over many random batches and every partition count 1 .. 150.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cases.h"
#include "common/split_plan.h"
#include "common/tile_map.h"
#include "compare.h"
#include "cpu/cpu_backend.h"
#include "split_combine.h"

using namespace flashmla;
using namespace flashmla::test;

namespace {

using flashmla::test::Lcg;

struct Outcome {
  bool ok = false;
  std::string message;
  int32_t splits = 0;  // num_splits[b] - b
};

Outcome split_vs_unsplit(const CaseSpec& spec, int32_t parts) {
  Outcome res;
  HostCase c = make_case(spec);
  const DecodeShape shape = make_decode_shape(c.spec, c.dims);
  const Status st = cpu::decode(make_decode_args(c.spec, host_views(c)), shape);
  if (!st.ok()) {
    res.message = "decode: " + st.message();
    return res;
  }
  const std::vector<uint16_t> ref_out = c.out;
  const std::vector<float> ref_lse = c.lse;

  std::vector<int32_t> meta(static_cast<size_t>(parts) * plan::kRecordInts), ns(c.dims.batch + 1);
  cpu::compute_schedule(c.seqlens.data(), c.dims.batch, parts, meta.data(), ns.data());
  res.splits = ns[c.dims.batch] - c.dims.batch;
  poison_outputs(c);
  const Status st2 =
      test::decode_split_combine(make_decode_args(c.spec, host_views(c)), shape, meta.data(), ns.data(), parts);
  if (!st2.ok()) {
    res.message = "split_combine: " + st2.message();
    return res;
  }
  const CompareResult co = compare_out(c.out.data(), ref_out.data(), ref_out.size(), c.spec.dtype,
                                       {c.dims.batch, c.dims.s_q, c.dims.h_q, kDV});
  const CompareResult cl =
      compare_lse(c.lse.data(), ref_lse.data(), ref_lse.size(), {c.dims.batch, c.dims.h_q, c.dims.s_q});
  res.ok = co.ok && cl.ok;
  res.message = co.message + "; " + cl.message;
  return res;
}

}  // namespace

TEST(SplitCombine, OneLongRequestOverEveryPartitionCount) {
  // 23 pages: up to one page per partition, and partitions without work past that.
  const CaseSpec spec = fixed_case(1, 2, 3, 1, 64 * 22 + 17, true, DType::kBF16);
  int32_t max_splits = 0;
  for (int32_t parts = 1; parts <= 150; parts += (parts < 40 ? 1 : 11)) {
    const Outcome o = split_vs_unsplit(spec, parts);
    ASSERT_TRUE(o.ok) << "parts " << parts << ": " << o.message;
    max_splits = std::max(max_splits, o.splits);
  }
  EXPECT_EQ(max_splits, 22);  // every page in its own split (23 chunks)
}

TEST(SplitCombine, RandomBatches) {
  static const int32_t kPairs[][2] = {{1, 1}, {3, 1},  {16, 1}, {16, 2}, {3, 3},
                                      {9, 3}, {16, 8}, {8, 8},  {64, 1}, {128, 8}};
  Lcg rng(2024);
  int64_t total_splits = 0;
  const int iterations = 120;
  for (int iter = 0; iter < iterations; ++iter) {
    const int32_t pi = rng.below(10);
    const int32_t h_q = kPairs[pi][0], h_kv = kPairs[pi][1];
    const int32_t s_q = 1 << rng.below(3);
    const bool big_heads = h_q >= 64;
    const int32_t b = 1 + rng.below(big_heads ? 2 : 6);
    std::vector<int32_t> lens(b);
    for (int32_t& L : lens) {
      const int32_t kind = rng.below(6);
      L = kind == 0   ? 0
          : kind == 1 ? 1 + rng.below(3)
          : kind == 2 ? 64 * (1 + rng.below(6))
                      : rng.below(big_heads ? 200 : 700);
    }
    const bool causal = rng.below(2) != 0;
    const DType dt = rng.below(2) ? DType::kFP16 : DType::kBF16;
    CaseSpec spec = list_case(lens, s_q, h_q, h_kv, causal, dt);
    spec.seed = spec.seed * 31 + static_cast<uint64_t>(iter);
    const int32_t parts = iter == 0 ? 1 : iter == 1 ? 150 : 1 + rng.below(150);
    const Outcome o = split_vs_unsplit(spec, parts);
    ASSERT_TRUE(o.ok) << spec.name << ", parts " << parts << ": " << o.message;
    total_splits += o.splits;
  }
  EXPECT_GT(total_splits, 200);
}

TEST(SplitCombine, InconsistentMetadataIsReported) {
  const CaseSpec spec = list_case({300, 70}, 1, 3, 1, false, DType::kBF16);
  HostCase c = make_case(spec);
  const DecodeShape shape = make_decode_shape(c.spec, c.dims);
  // Costs 5 + 5 and 2 + 5 over 2 partitions (payload 9): p0 = request 0 pages [0, 4) in slot 0,
  // p1 = request 0 pages [4, 5) in slot 1 and request 1 pages [0, 2) in slot 2.
  const int32_t parts = 2;
  std::vector<int32_t> meta(parts * plan::kRecordInts), ns(3);
  cpu::compute_schedule(c.seqlens.data(), 2, parts, meta.data(), ns.data());
  ASSERT_EQ(meta, (std::vector<int32_t>{0, 0, 0, 4, 0, 9, 0, 0, 0, 4, 1, 2, 1, 9, 0, 0}));
  ASSERT_EQ(ns, (std::vector<int32_t>{0, 2, 3}));
  ASSERT_TRUE(
      test::decode_split_combine(make_decode_args(c.spec, host_views(c)), shape, meta.data(), ns.data(), parts).ok());
  // Two partitions claiming the same slot.
  std::vector<int32_t> bad = meta;
  bad[plan::kRecordInts + plan::kRecBeginSlot] = bad[plan::kRecBeginSlot];
  const Status st =
      test::decode_split_combine(make_decode_args(c.spec, host_views(c)), shape, bad.data(), ns.data(), parts);
  EXPECT_EQ(st.code(), StatusCode::kInternal) << st.message();
  // A page range past the request's end.
  bad = meta;
  bad[plan::kRecEndBlock] = 100;
  EXPECT_FALSE(
      test::decode_split_combine(make_decode_args(c.spec, host_views(c)), shape, bad.data(), ns.data(), parts).ok());
}
