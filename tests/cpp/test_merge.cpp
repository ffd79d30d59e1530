// merge_partial_attention on the CPU backend (the oracle of the GPU kernel) against the naive formula
// of testing/merge_cases.cpp, on every named case (n = 1..8, 33, 64; empty parts whose outs are NaN,
// -inf lses, all-empty rows, NaN lses; strided, padded and misaligned views; bf16/fp16/fp32 parts,
// fp32 outputs), plus argument validation (nothing written on error).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "compare.h"
#include "flashmla/flashmla.h"
#include "flashmla/merge.h"
#include "merge_cases.h"

using namespace flashmla;
using namespace flashmla::test;

namespace flashmla::test {
void PrintTo(const MergeCaseSpec& spec, std::ostream* os) { *os << spec.name; }
}  // namespace flashmla::test

namespace {

class CpuMerge : public ::testing::TestWithParam<MergeCaseSpec> {};

TEST_P(CpuMerge, MatchesNaiveFormula) {
  MergeHost c = make_merge_case(GetParam());
  const MergeCaseSpec& s = c.spec;
  poison(c.out);
  poison(c.lse);
  MergeArgs a = c.args();
  ASSERT_TRUE(can_implement(a).ok()) << s.name << ": " << can_implement(a).message();
  const Status st = merge_partial_attention(a);
  ASSERT_TRUE(st.ok()) << s.name << ": " << st.message();

  std::vector<double> ref_out, ref_lse;
  naive_merge(c, &ref_out, &ref_lse);
  const CompareResult co = compare_merged_out(gather_out(c, c.out.bytes), ref_out, s.out, {s.b, s.s_q, s.h_q, s.dv});
  EXPECT_TRUE(co.ok) << s.name << " out: " << co.message;
  std::vector<float> ref_lse_f(ref_lse.begin(), ref_lse.end());
  const std::vector<float> got_lse = gather_lse(c, c.lse.bytes);
  const CompareResult cl = compare_lse(got_lse.data(), ref_lse_f.data(), ref_lse_f.size(), {s.b, s.h_q, s.s_q});
  EXPECT_TRUE(cl.ok) << s.name << " lse: " << cl.message;
  std::string where;
  EXPECT_TRUE(padding_intact(c.out, c.out.bytes, &where)) << s.name << " out: " << where;
  EXPECT_TRUE(padding_intact(c.lse, c.lse.bytes, &where)) << s.name << " lse: " << where;
}

INSTANTIATE_TEST_SUITE_P(Cases, CpuMerge, ::testing::ValuesIn(merge_cases_small()),
                         [](const ::testing::TestParamInfo<MergeCaseSpec>& i) { return i.param.name; });

// Row semantics spelled out on one row of 3 parts, dv = 4, fp32 (exact expectations).
TEST(CpuMergeSemantics, EmptyPartsAreSkippedNotMultiplied) {
  const float nan = std::nanf(""), inf = INFINITY;
  float outs[3][4] = {{1, 2, 3, 4}, {nan, nan, nan, nan}, {5, 6, 7, 8}};
  float lses[3] = {0.0f, inf, 0.0f};  // two live parts of equal weight, one empty with NaN out
  float out[4], lse = nan;
  MergeArgs a;
  a.outs = make_view(outs, DType::kFP32, {3, 1, 1, 1, 4});
  a.lses = make_view(lses, DType::kFP32, {3, 1, 1, 1});
  a.out = make_view(out, DType::kFP32, {1, 1, 1, 4});
  a.lse = make_view(&lse, DType::kFP32, {1, 1, 1});
  ASSERT_TRUE(merge_partial_attention(a).ok());
  for (int c = 0; c < 4; ++c) EXPECT_FLOAT_EQ(out[c], (outs[0][c] + outs[2][c]) / 2) << c;
  EXPECT_FLOAT_EQ(lse, std::log(2.0f));

  lses[1] = -inf;  // -inf: also empty
  ASSERT_TRUE(merge_partial_attention(a).ok());
  EXPECT_FLOAT_EQ(out[0], 3.0f);

  lses[0] = lses[2] = inf;  // nothing live: out 0, lse +inf
  ASSERT_TRUE(merge_partial_attention(a).ok());
  for (int c = 0; c < 4; ++c) EXPECT_EQ(out[c], 0.0f) << c;
  EXPECT_EQ(lse, inf);

  lses[0] = 0.0f;
  lses[2] = nan;  // NaN lse: the row is NaN
  ASSERT_TRUE(merge_partial_attention(a).ok());
  EXPECT_TRUE(std::isnan(out[0]) && std::isnan(lse));

  lses[2] = -200.0f;  // finite but negligible weight: multiplied (a NaN there would show)
  outs[2][1] = nan;
  ASSERT_TRUE(merge_partial_attention(a).ok());
  EXPECT_FLOAT_EQ(out[0], 1.0f);
  EXPECT_TRUE(std::isnan(out[1]));
}

// ---- validation --------------------------------------------------------------------------------------

struct Bufs {
  std::vector<uint16_t> outs, out;
  std::vector<float> lses, lse;
  MergeArgs a;
  Bufs(int n = 3, int b = 2, int s = 1, int h = 4, int dv = 512)
      : outs(size_t(n) * b * s * h * dv, 0), out(size_t(b) * s * h * dv, 0xFFFF), lses(size_t(n) * b * h * s, 0.f),
        lse(size_t(b) * h * s, std::nanf("")) {
    a.outs = make_view(outs.data(), DType::kBF16, {n, b, s, h, dv});
    a.lses = make_view(lses.data(), DType::kFP32, {n, b, h, s});
    a.out = make_view(out.data(), DType::kBF16, {b, s, h, dv});
    a.lse = make_view(lse.data(), DType::kFP32, {b, h, s});
  }
  bool untouched() const {
    for (uint16_t x : out)
      if (x != 0xFFFF) return false;
    for (float x : lse)
      if (!std::isnan(x)) return false;
    return true;
  }
};

void expect_rejected(Bufs& b, const char* what, const std::string& needle, ErrorKind kind) {
  const Status ci = can_implement(b.a);
  const Status st = merge_partial_attention(b.a);
  EXPECT_FALSE(st.ok()) << what;
  EXPECT_EQ(ci.code(), st.code()) << what;
  EXPECT_EQ(st.kind(), kind) << what << ": " << st.message();
  EXPECT_NE(st.message().find(needle), std::string::npos) << what << ": message '" << st.message() << "' lacks '"
                                                          << needle << "'";
  EXPECT_TRUE(b.untouched()) << what << ": an output was written";
}

TEST(CpuMergeValidation, AcceptsValid) {
  Bufs b;
  EXPECT_TRUE(can_implement(b.a).ok()) << can_implement(b.a).message();
  EXPECT_TRUE(merge_partial_attention(b.a).ok());
}

TEST(CpuMergeValidation, Rejects) {
  { Bufs b; b.a.outs.rank = 4; expect_rejected(b, "outs rank", "outs", ErrorKind::kShape); }
  { Bufs b; b.a.lses.dtype = DType::kBF16; expect_rejected(b, "lses dtype", "lses", ErrorKind::kType); }
  { Bufs b; b.a.out.dtype = DType::kFP16; expect_rejected(b, "out dtype", "out.dtype", ErrorKind::kType); }
  { Bufs b; b.a.outs.dtype = DType::kInt32; expect_rejected(b, "outs dtype", "outs.dtype", ErrorKind::kType); }
  { Bufs b; b.a.lse.dtype = DType::kFP16; expect_rejected(b, "lse dtype", "lse", ErrorKind::kType); }
  { Bufs b; b.a.outs.shape[0] = 0; b.a.lses.shape[0] = 0; expect_rejected(b, "n = 0", "outs.shape[0]", ErrorKind::kShape); }
  {
    Bufs b(65, 1, 1, 1, 8);
    expect_rejected(b, "n = 65", "1 to 64", ErrorKind::kShape);
  }
  {
    Bufs b(2, 1, 1, 1, 1025);
    expect_rejected(b, "dv = 1025", "dv", ErrorKind::kShape);
  }
  { Bufs b; b.a.lses.shape[2] = 3; expect_rejected(b, "lses h_q", "lses.shape[2]", ErrorKind::kShape); }
  { Bufs b; b.a.out.shape[3] = 256; expect_rejected(b, "out dv", "out.shape[3]", ErrorKind::kShape); }
  { Bufs b; b.a.lse.shape[0] = 1; expect_rejected(b, "lse b", "lse.shape[0]", ErrorKind::kShape); }
  {
    Bufs b;
    b.a.outs.stride[4] = 2;
    expect_rejected(b, "outs last dim", "outs.stride[4]", ErrorKind::kStride);
  }
  {
    Bufs b;
    b.a.out.stride[2] = 0;  // heads overlap
    expect_rejected(b, "out self-overlap", "out", ErrorKind::kStride);
  }
  {
    Bufs b;
    b.a.lses.stride[1] = -1;
    expect_rejected(b, "negative stride", "lses.stride[1]", ErrorKind::kStride);
  }
  {
    Bufs b;
    b.a.outs.data = nullptr;
    expect_rejected(b, "null outs", "outs.data", ErrorKind::kPointer);
  }
  {
    Bufs b;
    b.a.lse.data = b.lses.data();  // lse aliasing lses
    b.lse.assign(b.lse.size(), std::nanf(""));
    const Status st = merge_partial_attention(b.a);
    EXPECT_EQ(st.kind(), ErrorKind::kAlias) << st.message();
  }
  {
    Bufs b;
    b.a.out.data = b.outs.data();  // in-place merge into part 0: refused
    const Status st = merge_partial_attention(b.a);
    EXPECT_EQ(st.kind(), ErrorKind::kAlias) << st.message();
  }
  {
    Bufs b;
    b.a.lse.device = DeviceType::kCUDA;
    expect_rejected(b, "mixed devices", "lse", ErrorKind::kDevice);
  }
}

TEST(CpuMergeValidation, EmptyBatchIsANoOp) {
  Bufs b(2, 0, 1, 4, 512);
  EXPECT_TRUE(merge_partial_attention(b.a).ok());
}

TEST(CpuMergeValidation, CudaTensorsWithoutCudaBuild) {
  if (built_with_cuda()) GTEST_SKIP() << "CUDA build: covered by the GPU suite";
  Bufs b;
  b.a.outs.device = b.a.lses.device = b.a.out.device = b.a.lse.device = DeviceType::kCUDA;
  const Status st = merge_partial_attention(b.a);
  EXPECT_EQ(st.code(), StatusCode::kNotSupported) << st.message();
  EXPECT_TRUE(b.untouched());
}

}  // namespace
