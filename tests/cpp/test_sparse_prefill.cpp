// Sparse prefill on the CPU: the oracle (src/cpu/sparse_prefill.cpp, through the public API) against an
// independent naive formula, and the validation of every argument (a table of bad inputs, each with
// the fragments its message must contain; nothing may be written when a call fails).
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "common/numerics.h"
#include "compare.h"
#include "flashmla/flashmla.h"
#include "sparse_prefill_cases.h"

namespace flashmla::test {
namespace {

constexpr Tolerance kSpOut{8e-4, 3.01 / 128, 7e-6};
constexpr Tolerance kSpStat{1e-6, 2.01 / 65536, -1.0};

// ---- the independent naive formula: long double, weights exp(s - lse) directly ------------------------
struct Naive {
  std::vector<uint16_t> out;
  std::vector<float> max_logits, lse;
};

long double bf16_value(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

Naive naive_sparse_prefill(const SparsePrefillHost& c) {
  const SparsePrefillSpec& s = c.spec;
  const int64_t rs = c.kv_row_stride();
  Naive n;
  n.out.resize(c.out.size());
  n.max_logits.resize(c.max_logits.size());
  n.lse.resize(c.lse.size());
  for (int64_t i = 0; i < s.s_q; ++i) {
    for (int32_t h = 0; h < s.h_q; ++h) {
      std::vector<long double> sc;
      std::vector<int64_t> rows;
      for (int64_t p = 0; p < s.topk; ++p) {
        const int64_t idx = c.indices[i * s.topk + p];
        const bool in_length = c.topk_length.empty() || p < static_cast<int64_t>(c.topk_length[i]);
        if (idx < 0 || idx >= s.s_kv || !in_length) continue;
        long double dot = 0;
        for (int32_t d = 0; d < s.d_qk; ++d)
          dot += bf16_value(c.q[(i * s.h_q + h) * s.d_qk + d]) * bf16_value(c.kv[idx * rs + d]);
        sc.push_back(dot * static_cast<long double>(c.sm_scale));
        rows.push_back(idx);
      }
      const int64_t r = i * s.h_q + h;
      long double mx = -INFINITY, lse = INFINITY;
      if (!sc.empty()) {
        for (long double v : sc) mx = std::max(mx, v);
        long double sum = 0;
        for (long double v : sc) sum += std::exp(v - mx);
        lse = mx + std::log(sum);
      }
      long double factor = 1;
      if (!c.attn_sink.empty() && !sc.empty()) factor = 1 / (1 + std::exp(static_cast<long double>(c.attn_sink[h]) - lse));
      std::vector<long double> w(sc.size());
      for (size_t j = 0; j < sc.size(); ++j) w[j] = std::exp(sc[j] - lse) * factor;
      for (int32_t d = 0; d < 512; ++d) {
        long double acc = 0;
        for (size_t j = 0; j < sc.size(); ++j) acc += w[j] * bf16_value(c.kv[rows[j] * rs + d]);
        n.out[r * 512 + d] = numerics::double_to_bf16(static_cast<double>(acc));
      }
      n.max_logits[r] = static_cast<float>(mx);
      n.lse[r] = static_cast<float>(lse);
    }
  }
  return n;
}

// ---- CPU oracle vs naive ------------------------------------------------------------------------------
std::vector<SparsePrefillSpec> cpu_cases() {
  std::vector<SparsePrefillSpec> v;
  auto add = [&](SparsePrefillSpec s) { v.push_back(std::move(s)); };
  add({.name = "d576_h1_topk1", .s_q = 3, .s_kv = 7, .h_q = 1, .d_qk = 576, .topk = 1});
  add({.name = "d512_h3_topk5_invalid", .s_q = 4, .s_kv = 40, .h_q = 3, .d_qk = 512, .topk = 5, .invalid_fraction = 0.4});
  add({.name = "d576_h16_topk128_stride640", .s_q = 3, .s_kv = 500, .h_q = 16, .topk = 128, .kv_row_stride = 640,
       .invalid_fraction = 0.2});
  add({.name = "d576_h64_topk2048_skv300", .s_q = 2, .s_kv = 300, .h_q = 64, .topk = 2048, .invalid_fraction = 0.1});
  add({.name = "d512_h100_topk128_lengths_sinkmixed", .s_q = 5, .s_kv = 1000, .h_q = 100, .d_qk = 512, .topk = 128,
       .lengths = LengthMode::kPartial, .sink = SinkMode::kMixed});
  add({.name = "d576_h128_topk5_allinvalid_rows", .s_q = 6, .s_kv = 50, .h_q = 128, .topk = 5,
       .all_invalid_rows = true, .sink = SinkMode::kRandom});
  add({.name = "d576_h3_topk128_lengths0", .s_q = 3, .s_kv = 200, .h_q = 3, .topk = 128, .lengths = LengthMode::kZero});
  add({.name = "d512_h16_topk5_sinkposinf", .s_q = 4, .s_kv = 30, .h_q = 16, .d_qk = 512, .topk = 5,
       .sink = SinkMode::kPosInf});
  add({.name = "d576_h16_topk5_sinkneginf", .s_q = 4, .s_kv = 30, .h_q = 16, .topk = 5, .sink = SinkMode::kNegInf});
  add({.name = "d576_h1_topk5_skv0", .s_q = 2, .s_kv = 0, .h_q = 1, .topk = 5});
  add({.name = "d576_h16_topk128_scale_big", .s_q = 2, .s_kv = 300, .h_q = 16, .topk = 128, .sm_scale = 3.0f});
  return v;
}

class SparsePrefillCpu : public ::testing::TestWithParam<SparsePrefillSpec> {};

TEST_P(SparsePrefillCpu, MatchesNaive) {
  SparsePrefillHost c = make_sparse_prefill_case(GetParam());
  const SparsePrefillArgs a = make_sparse_prefill_args(c, host_pointers(c));
  ASSERT_TRUE(can_implement(a).ok()) << can_implement(a).message();
  const Status st = sparse_prefill(a);
  ASSERT_TRUE(st.ok()) << st.message();
  const Naive n = naive_sparse_prefill(c);
  const SparsePrefillSpec& s = c.spec;
  const std::vector<int64_t> oshape{s.s_q, s.h_q, 512}, rshape{s.s_q, s.h_q};
  const CompareResult co = compare_half(c.out.data(), n.out.data(), c.out.size(), DType::kBF16, kSpOut, oshape, "out");
  const CompareResult cm = compare_float(c.max_logits.data(), n.max_logits.data(), c.max_logits.size(), kSpStat, rshape,
                                         "max_logits");
  const CompareResult cl = compare_float(c.lse.data(), n.lse.data(), c.lse.size(), kSpStat, rshape, "lse");
  EXPECT_TRUE(co.ok) << s.name << ": " << co.message;
  EXPECT_TRUE(cm.ok) << s.name << ": " << cm.message;
  EXPECT_TRUE(cl.ok) << s.name << ": " << cl.message;
}

INSTANTIATE_TEST_SUITE_P(Cases, SparsePrefillCpu, ::testing::ValuesIn(cpu_cases()),
                         [](const auto& info) { return info.param.name; });

// Rows without a valid position: out 0, max_logits -inf, lse +inf, whatever the sink.
TEST(SparsePrefillCpuSemantics, EmptyRows) {
  SparsePrefillHost c = make_sparse_prefill_case({.name = "empty", .s_q = 3, .s_kv = 20, .h_q = 4, .topk = 7,
                                                  .all_invalid_rows = true, .sink = SinkMode::kRandom});
  ASSERT_TRUE(sparse_prefill(make_sparse_prefill_args(c, host_pointers(c))).ok());
  for (int32_t h = 0; h < 4; ++h) {
    const int64_t r = 1 * 4 + h;  // token 1 has no valid position
    EXPECT_EQ(c.max_logits[r], -std::numeric_limits<float>::infinity());
    EXPECT_EQ(c.lse[r], std::numeric_limits<float>::infinity());
    for (int d = 0; d < 512; ++d) ASSERT_EQ(c.out[r * 512 + d], 0) << "head " << h << " channel " << d;
  }
}

// Duplicate positions count as many times as they appear: [a, a, b] weighs a twice.
TEST(SparsePrefillCpuSemantics, DuplicatesCountTwice) {
  SparsePrefillHost c = make_sparse_prefill_case({.name = "dups", .s_q = 1, .s_kv = 2, .h_q = 1, .topk = 3});
  c.kv.assign(c.kv.size(), 0);
  for (int ch = 0; ch < 576; ++ch) c.q[ch] = 0;  // all scores 0: weights are counts / 3
  c.kv[0] = numerics::float_to_bf16(1.0f);    // row 0, channel 0 = 1
  c.kv[576 + 1] = numerics::float_to_bf16(1.0f);  // row 1, channel 1 = 1
  c.indices = {0, 0, 1};
  ASSERT_TRUE(sparse_prefill(make_sparse_prefill_args(c, host_pointers(c))).ok());
  EXPECT_NEAR(numerics::bf16_to_float(c.out[0]), 2.0 / 3.0, 4e-3);
  EXPECT_NEAR(numerics::bf16_to_float(c.out[1]), 1.0 / 3.0, 2e-3);
  EXPECT_NEAR(c.lse[0], std::log(3.0), 1e-6);
  EXPECT_EQ(c.max_logits[0], 0.0f);
}

// ---- validation: one valid call, then one mutation per row of the table ---------------------------------
struct BadCase {
  const char* name;
  std::function<void(SparsePrefillArgs&)> mutate;
  std::vector<const char*> fragments;  // all must appear in the message
  StatusCode code = StatusCode::kInvalidArgument;
};

class SparsePrefillValidation : public ::testing::Test {
 protected:
  void SetUp() override {
    c_ = make_sparse_prefill_case({.name = "validation", .s_q = 2, .s_kv = 16, .h_q = 4, .topk = 8,
                                   .lengths = LengthMode::kPartial, .sink = SinkMode::kRandom});
    other_.assign(4096, 0.0f);
  }
  SparsePrefillArgs base() { return make_sparse_prefill_args(c_, host_pointers(c_)); }
  SparsePrefillHost c_;
  std::vector<float> other_;
};

TEST_F(SparsePrefillValidation, BaseIsValid) {
  const SparsePrefillArgs a = base();
  EXPECT_TRUE(can_implement(a).ok()) << can_implement(a).message();
}

TEST_F(SparsePrefillValidation, BadInputsTable) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<BadCase> table = {
      {"q_rank", [](auto& a) { a.q.rank = 4; }, {"q", "rank 3"}},
      {"q_dtype", [](auto& a) { a.q.dtype = DType::kFP16; }, {"q.dtype", "bfloat16", "float16"}},
      {"q_dqk", [](auto& a) { a.q.shape[2] = 128; }, {"q.shape[2]", "512 or 576", "128"}, StatusCode::kNotSupported},
      {"q_heads0", [](auto& a) { a.q.shape[1] = 0; }, {"q.shape[1]", "h_q", "1..128"}},
      {"q_heads129", [](auto& a) { a.q.shape[1] = 129; }, {"q.shape[1]", "1..128", "129"}},
      {"q_null", [](auto& a) { a.q.data = nullptr; }, {"q.data", "non-null"}},
      {"q_last_stride", [](auto& a) { a.q.stride[2] = 2; }, {"q.stride[2]", "contiguous"}},
      {"q_device", [](auto& a) { a.q.device = static_cast<DeviceType>(7); }, {"q.device", "cpu or cuda"}},
      {"kv_rank", [](auto& a) { a.kv.rank = 2; }, {"kv", "rank 3", "[s_kv, h_kv, d_qk]"}},
      {"kv_dtype", [](auto& a) { a.kv.dtype = DType::kFP8E4M3; }, {"kv.dtype", "bfloat16", "float8_e4m3fn"}},
      {"kv_hkv2", [](auto& a) { a.kv.shape[1] = 2; }, {"kv.shape[1]", "h_kv", "1", "2"}, StatusCode::kNotSupported},
      {"kv_dim", [](auto& a) { a.kv.shape[2] = 512; }, {"kv.shape[2]", "576 (same as q)", "512"}},
      {"kv_device", [](auto& a) { a.kv.device = DeviceType::kCUDA; }, {"kv", "device"}},
      {"kv_negative_stride", [](auto& a) { a.kv.stride[0] = -576; }, {"kv.stride[0]", ">= 0"}},
      {"indices_dtype", [](auto& a) { a.indices.dtype = DType::kFP32; }, {"indices.dtype", "int32", "float32"}},
      {"indices_sq", [](auto& a) { a.indices.shape[0] = 3; }, {"indices.shape[0]", "2", "3"}},
      {"indices_hkv", [](auto& a) { a.indices.shape[1] = 2; }, {"indices.shape[1]", "1"}},
      {"indices_topk0", [](auto& a) { a.indices.shape[2] = 0; }, {"indices.shape[2]", "topk", "1..2^31 - 1", "got 0"}},
      {"indices_missing", [](auto& a) { a.indices = TensorView{}; }, {"indices", "rank 3"}},
      {"topk_length_shape", [](auto& a) { a.topk_length.shape[0] = 5; }, {"topk_length.shape", "[2]", "[5]"}},
      {"topk_length_dtype", [](auto& a) { a.topk_length.dtype = DType::kBF16; }, {"topk_length.dtype", "int32"}},
      {"attn_sink_shape", [](auto& a) { a.attn_sink.shape[0] = 3; }, {"attn_sink.shape", "[4]", "[3]"}},
      {"attn_sink_dtype", [](auto& a) { a.attn_sink.dtype = DType::kBF16; }, {"attn_sink.dtype", "float32"}},
      {"sm_scale_zero", [](auto& a) { a.sm_scale = 0.0f; }, {"sm_scale", "normal float", "0"}},
      {"sm_scale_negative", [](auto& a) { a.sm_scale = -0.5f; }, {"sm_scale", "-0.5"}},
      {"sm_scale_nan", [nan](auto& a) { a.sm_scale = nan; }, {"sm_scale", "nan"}},
      {"sm_scale_huge", [](auto& a) { a.sm_scale = 1e5f; }, {"sm_scale", "100000"}},
      {"d_v", [](auto& a) { a.d_v = 576; }, {"d_v", "512", "576"}, StatusCode::kNotSupported},
      {"out_shape", [](auto& a) { a.out.shape[2] = 576; }, {"out.shape", "[2, 4, 512]", "[2, 4, 576]"}},
      {"out_dtype", [](auto& a) { a.out.dtype = DType::kFP32; }, {"out.dtype", "bfloat16", "float32"}},
      {"out_self_overlap", [](auto& a) { a.out.stride[1] = 0; }, {"out.stride[1]", "overlap"}},
      {"out_aliases_q", [](auto& a) { a.out.data = a.q.data; }, {"out", "disjoint from q"}},
      {"max_logits_shape", [](auto& a) { a.max_logits.shape[1] = 5; }, {"max_logits.shape", "[2, 4]", "[2, 5]"}},
      {"max_logits_dtype", [](auto& a) { a.max_logits.dtype = DType::kBF16; }, {"max_logits.dtype", "float32"}},
      {"lse_missing", [](auto& a) { a.lse = TensorView{}; }, {"lse", "rank 2"}},
      {"lse_aliases_max_logits", [](auto& a) { a.lse.data = a.max_logits.data; }, {"lse", "disjoint from max_logits"}},
      {"max_logits_aliases_kv", [](auto& a) { a.max_logits.data = a.kv.data; }, {"max_logits", "disjoint from kv"}},
      {"lse_aliases_sink", [](auto& a) { a.lse.data = const_cast<void*>(a.attn_sink.data); },
       {"lse", "disjoint from attn_sink"}},
      {"lse_misaligned", [](auto& a) { a.lse.data = static_cast<char*>(a.lse.data) + 2; }, {"lse.data", "aligned"}},
  };
  for (const BadCase& bc : table) {
    SCOPED_TRACE(bc.name);
    poison_sparse_prefill_outputs(c_);
    SparsePrefillArgs a = base();
    bc.mutate(a);
    const Status ci = can_implement(a);
    const Status st = sparse_prefill(a);
    EXPECT_FALSE(st.ok()) << bc.name << ": accepted";
    EXPECT_EQ(ci.message(), st.message()) << bc.name << ": can_implement and sparse_prefill disagree";
    EXPECT_EQ(static_cast<int>(st.code()), static_cast<int>(bc.code)) << bc.name << ": " << st.message();
    for (const char* f : bc.fragments)
      EXPECT_NE(st.message().find(f), std::string::npos) << bc.name << ": '" << f << "' not in: " << st.message();
    for (uint16_t o : c_.out) ASSERT_EQ(o, numerics::kBF16QuietNaN) << bc.name << ": out written";
    for (float v : c_.lse) ASSERT_TRUE(std::isnan(v)) << bc.name << ": lse written";
    for (float v : c_.max_logits) ASSERT_TRUE(std::isnan(v)) << bc.name << ": max_logits written";
  }
}

// CUDA tensors in a build without kernels (or on a machine without a Hopper GPU) are refused cleanly.
TEST_F(SparsePrefillValidation, CudaTensorsWithoutKernelsOrGpu) {
  SparsePrefillArgs a = base();
  for (TensorView* v : {&a.q, &a.kv, &a.indices, &a.topk_length, &a.attn_sink, &a.out, &a.max_logits, &a.lse})
    v->device = DeviceType::kCUDA;
  if (built_with_cuda() && device_supported(0).ok()) GTEST_SKIP() << "a Hopper GPU is present";
  const Status st = can_implement(a);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(static_cast<int>(st.code()), static_cast<int>(StatusCode::kNotSupported)) << st.message();
}

// Debug mode: a counted index that is neither -1 nor a row of kv, or a length outside [0, topk], is
// reported by name and nothing is written; -1 fillers, indices past topk_length and (without debug mode)
// anything else stay masked.
TEST(SparsePrefillDebugChecks, ReportsOutOfRangeIndices) {
  SparsePrefillHost c = make_sparse_prefill_case({.name = "debug", .s_q = 3, .s_kv = 16, .h_q = 2, .topk = 8});
  for (int32_t& i : c.indices) i = i % 16;  // every position valid
  c.indices[1 * 8 + 5] = -1;                 // the filler is allowed
  SparsePrefillArgs a = make_sparse_prefill_args(c, host_pointers(c));
  a.debug_checks = true;
  ASSERT_TRUE(sparse_prefill(a).ok()) << sparse_prefill(a).message();

  for (const int32_t bad : {16, INT_MAX, -2, INT_MIN}) {
    c.indices[2 * 8 + 3] = bad;
    poison_sparse_prefill_outputs(c);
    const Status st = sparse_prefill(a);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(st.message().find("indices[2][0][3]"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("debug_checks"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(std::to_string(bad)), std::string::npos) << st.message();
    EXPECT_TRUE(std::isnan(c.lse[0])) << "nothing written on failure";
    a.debug_checks = false;
    EXPECT_TRUE(sparse_prefill(a).ok()) << "masked without debug mode";
    EXPECT_FALSE(std::isnan(c.lse[0]));
    a.debug_checks = true;
  }
  c.indices[2 * 8 + 3] = 0;
  ASSERT_TRUE(sparse_prefill(a).ok());
  EXPECT_TRUE(can_implement(a).ok());
}

TEST(SparsePrefillDebugChecks, LengthsBoundTheCheckAndAreChecked) {
  SparsePrefillHost c = make_sparse_prefill_case(
      {.name = "debug_len", .s_q = 2, .s_kv = 16, .h_q = 1, .topk = 8, .lengths = LengthMode::kPartial});
  for (int32_t& i : c.indices) i = i % 16;
  c.topk_length = {4, 8};
  c.indices[0 * 8 + 6] = 99;  // past topk_length[0]: not counted, not reported
  SparsePrefillArgs a = make_sparse_prefill_args(c, host_pointers(c));
  a.debug_checks = true;
  ASSERT_TRUE(sparse_prefill(a).ok()) << sparse_prefill(a).message();

  for (const int32_t bad_len : {-1, 9}) {
    c.topk_length[1] = bad_len;
    poison_sparse_prefill_outputs(c);
    const Status st = sparse_prefill(a);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << bad_len;
    EXPECT_NE(st.message().find("topk_length[1]"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("[0, 8]"), std::string::npos) << st.message();
    EXPECT_TRUE(std::isnan(c.lse[0])) << "nothing written on failure";
  }
  c.topk_length[1] = 8;
  c.indices[1 * 8 + 7] = 16;  // counted: reported
  const Status st = sparse_prefill(a);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("indices[1][0][7]"), std::string::npos) << st.message();
}

TEST_F(SparsePrefillValidation, EmptyQueryIsANoOp) {
  SparsePrefillArgs a = base();
  a.q.shape[0] = a.indices.shape[0] = a.out.shape[0] = a.max_logits.shape[0] = a.lse.shape[0] = 0;
  a.topk_length.shape[0] = 0;
  EXPECT_TRUE(sparse_prefill(a).ok()) << sparse_prefill(a).message();
}

}  // namespace
}  // namespace flashmla::test
