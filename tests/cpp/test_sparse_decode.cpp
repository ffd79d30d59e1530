// CPU tests of the sparse FP8 decode family: e4m3 / e8m0 codecs (all 256 codes), the quantizer (round
// trip, scale rule, layouts), the CPU oracle against an independent naive reference on adversarial
// cases, debug-mode index checks and a table of invalid arguments with the expected message fragments.
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/kv_format.h"
#include "common/numerics.h"
#include "compare.h"
#include "flashmla/quantize.h"
#include "flashmla/sparse_decode.h"
#include "sparse_decode_cases.h"
#include "sparse_decode_naive.h"

namespace flashmla::test {
namespace {

constexpr Tolerance kSparseOutTol{1e-3, 2.01 / 128, 5e-6};
constexpr Tolerance kSparseLseTol{1e-6, 8.01 / 65536, -1.0};

// ---- codecs -------------------------------------------------------------------------------------------

TEST(SparseCodec, E4m3DecodeAllCodes) {
  for (int c = 0; c < 256; ++c) {
    const float f = kvfmt::e4m3_to_float(static_cast<uint8_t>(c));
    const double want = naive::e4m3(static_cast<uint8_t>(c));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(f)) << "code " << c;
      EXPECT_EQ(std::signbit(f), (c & 0x80) != 0) << "code " << c;
    } else {
      EXPECT_EQ(static_cast<double>(f), want) << "code " << c;
    }
  }
  EXPECT_EQ(kvfmt::e4m3_to_float(0x7e), 448.0f);
  EXPECT_EQ(kvfmt::e4m3_to_float(0x01), std::ldexp(1.0f, -9));
}

TEST(SparseCodec, E4m3EncodeRoundTripsEveryCode) {
  for (int c = 0; c < 256; ++c) {
    const uint8_t code = static_cast<uint8_t>(c);
    const uint8_t back = kvfmt::float_to_e4m3(kvfmt::e4m3_to_float(code));
    if ((c & 0x7f) == 0x7f) EXPECT_EQ(back, code) << "NaN code " << c;  // NaN keeps its sign
    else if (c == 0x80) EXPECT_EQ(back, 0x80) << "-0";
    else EXPECT_EQ(back, code) << "code " << c;
  }
}

// Brute force: the nearest finite code (ties to the even code), saturated to +-448.
uint8_t e4m3_brute(float f) {
  if (std::isnan(f)) return std::signbit(f) ? 0xff : 0x7f;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const double a = std::fabs(static_cast<double>(f));
  if (a >= 448.0) return sign | 0x7e;
  int best = 0;
  double best_err = INFINITY;
  for (int c = 0; c <= 0x7e; ++c) {
    const double err = std::fabs(naive::e4m3(static_cast<uint8_t>(c)) - a);
    if (err < best_err || (err == best_err && (c & 1) == 0)) {
      best = c;
      best_err = err;
    }
  }
  return static_cast<uint8_t>(sign | best);
}

TEST(SparseCodec, E4m3EncodeNearestEvenSaturating) {
  // Every midpoint between neighbouring codes, the points just around it, and random floats.
  std::vector<float> xs = {0.0f, -0.0f, 448.0f, 449.0f, 464.0f, 465.0f, 480.0f, 1e30f, INFINITY, -INFINITY,
                           std::ldexp(1.0f, -10), std::ldexp(1.0f, -11), std::ldexp(3.0f, -11), 1e-30f};
  for (int c = 0; c < 0x7e; ++c) {
    const float lo = kvfmt::e4m3_to_float(static_cast<uint8_t>(c)), hi = kvfmt::e4m3_to_float(static_cast<uint8_t>(c + 1));
    const float mid = 0.5f * (lo + hi);
    xs.insert(xs.end(), {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f), -mid});
  }
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-12.0f, 9.5f);
  for (int i = 0; i < 20000; ++i) xs.push_back((i & 1 ? -1.0f : 1.0f) * std::exp2(u(rng)));
  for (float x : xs) EXPECT_EQ(kvfmt::float_to_e4m3(x), e4m3_brute(x)) << "x = " << x;
}

TEST(SparseCodec, E8m0AllCodes) {
  for (int c = 0; c < 256; ++c) {
    const float f = kvfmt::e8m0_to_float(static_cast<uint8_t>(c));
    if (c == 255) {
      EXPECT_TRUE(std::isnan(f));
      continue;
    }
    EXPECT_EQ(static_cast<double>(f), std::ldexp(1.0, c - 127)) << "code " << c;
    EXPECT_EQ(kvfmt::float_to_e8m0(f), c) << "code " << c;
  }
}

TEST(SparseCodec, TileScaleRule) {
  // scale = 2^ceil(log2(max(amax / 448, 1e-4))), against a float64 evaluation on values whose float
  // quotient is far from a power of two, and exactly on powers of two.
  EXPECT_EQ(kvfmt::tile_scale(0.0f), std::ldexp(1.0f, -13));   // 1e-4 -> 2^-13
  EXPECT_EQ(kvfmt::tile_scale(448.0f), 1.0f);
  EXPECT_EQ(kvfmt::tile_scale(896.0f), 2.0f);
  EXPECT_EQ(kvfmt::tile_scale(std::nextafter(448.0f, 1e9f)), 2.0f);
  EXPECT_EQ(kvfmt::tile_scale(1.0f), std::ldexp(1.0f, -8));    // 1/448 = 2^-8.8
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-20.0f, 20.0f);
  for (int i = 0; i < 5000; ++i) {
    const float amax = std::exp2(u(rng));
    const float v = std::max(amax / 448.0f, 1e-4f);
    const double want = std::ldexp(1.0, static_cast<int>(std::ceil(std::log2(static_cast<double>(v)))));
    EXPECT_EQ(static_cast<double>(kvfmt::tile_scale(amax)), want) << "amax " << amax;
  }
}

// ---- quantizer -----------------------------------------------------------------------------------------

struct QuantCase {
  KvFormat f;
  int64_t nb, page, pad;
};

void quant_round_trip(const QuantCase& qc) {
  const int32_t d = kvfmt::dim_qk(qc.f), bpt = kvfmt::bytes_per_token(qc.f);
  std::mt19937_64 rng(11);
  std::normal_distribution<float> nd;
  std::vector<uint16_t> x(static_cast<size_t>(qc.nb * qc.page * d));
  for (size_t i = 0; i < x.size(); ++i) {
    const float mul = std::ldexp(1.0f, static_cast<int>((i / d) % 13) - 8);  // per-token magnitude
    x[i] = numerics::float_to_bf16(nd(rng) * mul);
  }
  if (!x.empty()) x[5] = numerics::float_to_bf16(0.0f);
  const int64_t stride0 = qc.page * bpt + qc.pad;
  std::vector<uint8_t> cache(static_cast<size_t>(qc.nb * stride0), 0xa5);
  TensorView in = make_view(x.data(), DType::kBF16, {qc.nb, qc.page, 1, d});
  TensorView cv = make_view(cache.data(), DType::kUInt8, {qc.nb, qc.page, 1, bpt});
  cv.stride[0] = stride0;
  ASSERT_TRUE(quantize_kv_cache(qc.f, in, cv).ok());
  // Page padding untouched.
  for (int64_t p = 0; p < qc.nb; ++p)
    for (int64_t i = qc.page * bpt; i < stride0; ++i) ASSERT_EQ(cache[static_cast<size_t>(p * stride0 + i)], 0xa5);
  std::vector<uint16_t> y(x.size(), 0xffff);
  TensorView outv = make_view(y.data(), DType::kBF16, {qc.nb, qc.page, 1, d});
  ASSERT_TRUE(dequantize_kv_cache(qc.f, cv, outv).ok());
  const bool v32 = qc.f == KvFormat::kSparseV32;
  const int nope = v32 ? 512 : 448, tile = v32 ? 128 : 64;
  for (int64_t t = 0; t < qc.nb * qc.page; ++t) {
    for (int c = 0; c < d; ++c) {
      const float xv = numerics::bf16_to_float(x[static_cast<size_t>(t * d + c)]);
      const float yv = numerics::bf16_to_float(y[static_cast<size_t>(t * d + c)]);
      if (c >= nope) {
        ASSERT_EQ(x[static_cast<size_t>(t * d + c)], y[static_cast<size_t>(t * d + c)]) << "RoPE copied exactly";
        continue;
      }
      float amax = 0;
      for (int i = c / tile * tile; i < c / tile * tile + tile; ++i)
        amax = std::max(amax, std::fabs(numerics::bf16_to_float(x[static_cast<size_t>(t * d + i)])));
      const double scale = kvfmt::tile_scale(amax);
      // e4m3 keeps 3 mantissa bits: error <= 2^-4 relative, or half the subnormal step 2^-10 * scale;
      // then bf16 rounding of the product.
      const double bound = std::max(std::fabs(xv) * (1.0 / 16 + 1.0 / 256), std::ldexp(scale, -10)) + 1e-30;
      ASSERT_LE(std::fabs(static_cast<double>(yv) - xv), bound) << "token " << t << " channel " << c;
    }
  }
  // Bytes: independent re-parse of token 0's layout.
  if (qc.nb * qc.page > 0) {
    const auto k = naive::token(HostPool{cache, qc.nb, stride0, static_cast<int32_t>(qc.page), 1, {}, {}, {}}, v32, 0);
    for (int c = 0; c < d; ++c) ASSERT_EQ(numerics::float_to_bf16(static_cast<float>(k[c])), y[c]) << "channel " << c;
  }
}

TEST(SparseQuant, RoundTripV32) { quant_round_trip({KvFormat::kSparseV32, 3, 5, 0}); }
TEST(SparseQuant, RoundTripV32PaddedPages) { quant_round_trip({KvFormat::kSparseV32, 2, 64, 32}); }
TEST(SparseQuant, RoundTripModel1) { quant_round_trip({KvFormat::kSparseModel1, 3, 7, 0}); }
TEST(SparseQuant, RoundTripModel1PaddedPages) { quant_round_trip({KvFormat::kSparseModel1, 2, 64, 16}); }
TEST(SparseQuant, RoundTripModel1Page1) { quant_round_trip({KvFormat::kSparseModel1, 5, 1, 0}); }

TEST(SparseQuant, RejectsBadArguments) {
  std::vector<uint16_t> x(576);
  std::vector<uint8_t> c(656);
  TensorView in = make_view(x.data(), DType::kBF16, {1, 1, 1, 576});
  TensorView cv = make_view(c.data(), DType::kUInt8, {1, 1, 1, 656});
  EXPECT_NE(quantize_kv_cache(KvFormat::kDenseBF16, in, cv).message().find("format"), std::string::npos);
  EXPECT_NE(quantize_kv_cache(KvFormat::kSparseModel1, in, cv).message().find("input.shape[3] (d_qk)"),
            std::string::npos);
  TensorView bad = make_view(c.data(), DType::kUInt8, {1, 1, 1, 600});
  EXPECT_NE(quantize_kv_cache(KvFormat::kSparseV32, in, bad).message().find("bytes_per_token"), std::string::npos);
  TensorView gpu = cv;
  gpu.device = DeviceType::kCUDA;
  EXPECT_EQ(quantize_kv_cache(KvFormat::kSparseV32, in, gpu).code(), StatusCode::kNotSupported);
}

// ---- CPU oracle vs naive -------------------------------------------------------------------------------

void check_against_naive(SparseCaseSpec spec) {
  spec = finish(spec);
  SCOPED_TRACE(spec.name);
  SparseHostCase c = make_sparse_case(spec);
  SparseDecodeArgs a = make_sparse_args(c, host_pointers(c));
  const Status st = sparse_decode(a);
  ASSERT_TRUE(st.ok()) << spec.name << ": " << st.message();
  std::vector<double> out, lse;
  naive::attention(c, &out, &lse);
  std::vector<float> got_out(c.out.size()), ref_out(out.size()), ref_lse(lse.size());
  for (size_t i = 0; i < out.size(); ++i) {
    got_out[i] = numerics::bf16_to_float(c.out[i]);
    ref_out[i] = static_cast<float>(out[i]);
  }
  for (size_t i = 0; i < lse.size(); ++i) ref_lse[i] = static_cast<float>(lse[i]);
  const auto ro = compare_float(got_out.data(), ref_out.data(), got_out.size(), kSparseOutTol,
                                {spec.batch, spec.s_q, spec.h_q, 512}, "out");
  EXPECT_TRUE(ro.ok) << spec.name << ": " << ro.message;
  const auto rl = compare_float(c.lse.data(), ref_lse.data(), c.lse.size(), kSparseLseTol,
                                {spec.batch, spec.h_q, spec.s_q}, "lse");
  EXPECT_TRUE(rl.ok) << spec.name << ": " << rl.message;
}

SparseCaseSpec base(KvFormat f, int32_t b, int32_t s_q, int32_t h, int32_t topk, int32_t page) {
  return sparse_spec(f, b, s_q, h, topk, page);
}

class SparseOracle : public ::testing::TestWithParam<KvFormat> {};

TEST_P(SparseOracle, Plain) { check_against_naive(base(GetParam(), 2, 2, 8, 64, 64)); }
TEST_P(SparseOracle, Topk1Page1) { check_against_naive(base(GetParam(), 2, 1, 3, 1, 1)); }
TEST_P(SparseOracle, Topk7Page53Garbage) {
  auto s = base(GetParam(), 3, 2, 16, 7, 53);
  s.garbage = true;
  check_against_naive(s);
}
TEST_P(SparseOracle, TopkLengthExtraCache) {
  auto s = base(GetParam(), 3, 2, 4, 64, 69);
  s.topk_length = true;
  s.extra_topk = 37;
  s.extra_page_size = 2;
  check_against_naive(s);
}
TEST_P(SparseOracle, AllInvalidRowAndSink) {
  auto s = base(GetParam(), 2, 1, 8, 32, 64);
  s.all_invalid = true;
  s.sink = SinkKind::kRandom;
  check_against_naive(s);
}
TEST_P(SparseOracle, SinkPosInf) {
  auto s = base(GetParam(), 1, 1, 4, 16, 256);
  s.sink = SinkKind::kPosInf;
  check_against_naive(s);
}
TEST_P(SparseOracle, SinkNegInfStrided) {
  auto s = base(GetParam(), 2, 2, 5, 16, 64);
  s.sink = SinkKind::kNegInf;
  s.strided = true;
  s.softmax_scale = 0.07f;
  check_against_naive(s);
}
INSTANTIATE_TEST_SUITE_P(Formats, SparseOracle, ::testing::Values(KvFormat::kSparseV32, KvFormat::kSparseModel1),
                         [](const auto& info) { return info.param == KvFormat::kSparseV32 ? "V32" : "MODEL1"; });

TEST(SparseDecodeCpu, EmptyRowsGiveZeroAndInf) {
  auto s = finish(base(KvFormat::kSparseV32, 2, 1, 2, 8, 64));
  SparseHostCase c = make_sparse_case(s);
  for (auto& v : c.main.indices) v = -1;
  SparseDecodeArgs a = make_sparse_args(c, host_pointers(c));
  ASSERT_TRUE(sparse_decode(a).ok());
  for (uint16_t o : c.out) ASSERT_EQ(o, 0);
  for (float l : c.lse) ASSERT_TRUE(std::isinf(l) && l > 0);
}

TEST(SparseDecodeCpu, DebugChecksReportOutOfRange) {
  auto s = finish(base(KvFormat::kSparseModel1, 2, 1, 2, 8, 64));
  s.holes = false;
  SparseHostCase c = make_sparse_case(s);
  SparseDecodeArgs a = make_sparse_args(c, host_pointers(c));
  a.debug_checks = true;
  ASSERT_TRUE(sparse_decode(a).ok());
  c.main.indices[3] = INT_MAX;
  poison(c);
  const Status st = sparse_decode(a);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("indices[0][0][3]"), std::string::npos) << st.message();
  EXPECT_TRUE(std::isnan(c.lse[0])) << "nothing written on failure";
  a.debug_checks = false;
  EXPECT_TRUE(sparse_decode(a).ok()) << "masked like -1 without debug mode";
}

// ---- validation table ----------------------------------------------------------------------------------

struct BadCase {
  const char* name;
  void (*mutate)(SparseDecodeArgs&);
  const char* fragment;
};

const BadCase kBadCases[] = {
    {"q_rank", [](SparseDecodeArgs& a) { a.q.rank = 3; }, "q: expected rank 4"},
    {"q_dtype", [](SparseDecodeArgs& a) { a.q.dtype = DType::kFP16; }, "q.dtype: expected bfloat16"},
    {"q_dim", [](SparseDecodeArgs& a) { a.q.shape[3] = 128; }, "q.shape[3] (d_qk)"},
    {"q_last_stride", [](SparseDecodeArgs& a) { a.q.stride[3] = 2; }, "q.stride[3]"},
    {"q_null", [](SparseDecodeArgs& a) { a.q.data = nullptr; }, "q.data"},
    {"cache_dtype", [](SparseDecodeArgs& a) { a.k_cache.dtype = DType::kBF16; }, "k_cache.dtype"},
    {"cache_bytes", [](SparseDecodeArgs& a) { a.k_cache.shape[3] = 584; }, "k_cache.shape[3] (bytes_per_token)"},
    {"cache_heads", [](SparseDecodeArgs& a) { a.k_cache.shape[2] = 2; }, "k_cache.shape[2] (h_kv)"},
    {"cache_row_stride", [](SparseDecodeArgs& a) { a.k_cache.stride[1] = 700; }, "k_cache.stride[1]"},
    {"cache_page_stride", [](SparseDecodeArgs& a) { a.k_cache.stride[0] = 100; }, "k_cache.stride[0]"},
    {"cache_page0", [](SparseDecodeArgs& a) { a.k_cache.shape[1] = 0; }, "k_cache.shape[1] (page_block_size)"},
    {"cache_device", [](SparseDecodeArgs& a) { a.k_cache.device = DeviceType::kCUDA; }, "k_cache.device"},
    {"indices_dtype", [](SparseDecodeArgs& a) { a.indices.dtype = DType::kFP32; }, "indices.dtype"},
    {"indices_batch", [](SparseDecodeArgs& a) { a.indices.shape[0] = 3; }, "indices.shape[0] (b)"},
    {"indices_sq", [](SparseDecodeArgs& a) { a.indices.shape[1] = 5; }, "indices.shape[1] (s_q)"},
    {"indices_topk0", [](SparseDecodeArgs& a) { a.indices.shape[2] = 0; }, "indices.shape[2] (topk)"},
    {"topk_length_shape", [](SparseDecodeArgs& a) { a.topk_length.shape[0] = 7; }, "topk_length.shape[0] (b)"},
    {"topk_length_dtype", [](SparseDecodeArgs& a) { a.topk_length.dtype = DType::kFP32; }, "topk_length.dtype"},
    {"sink_shape", [](SparseDecodeArgs& a) { a.attn_sink.shape[0] = 1; }, "attn_sink.shape[0] (h_q)"},
    {"sink_dtype", [](SparseDecodeArgs& a) { a.attn_sink.dtype = DType::kBF16; }, "attn_sink.dtype"},
    {"extra_without_indices", [](SparseDecodeArgs& a) { a.extra_indices = TensorView{}; }, "extra_indices: expected"},
    {"extra_indices_alone", [](SparseDecodeArgs& a) { a.extra_k_cache = TensorView{}; a.extra_topk_length = TensorView{}; },
     "extra_indices: expected undefined"},
    {"extra_length_alone",
     [](SparseDecodeArgs& a) { a.extra_k_cache = TensorView{}; a.extra_indices = TensorView{}; },
     "extra_topk_length: expected undefined"},
    {"extra_dtype", [](SparseDecodeArgs& a) { a.extra_k_cache.dtype = DType::kInt8; }, "extra_k_cache.dtype"},
    {"extra_bytes", [](SparseDecodeArgs& a) { a.extra_k_cache.shape[3] = 576; }, "extra_k_cache.shape[3]"},
    {"out_dtype", [](SparseDecodeArgs& a) { a.out.dtype = DType::kFP32; }, "out.dtype"},
    {"out_dv", [](SparseDecodeArgs& a) { a.out.shape[3] = 576; }, "out.shape[3] (d_v)"},
    {"out_heads", [](SparseDecodeArgs& a) { a.out.shape[2] = 3; }, "out.shape[2] (h_q)"},
    {"out_overlap", [](SparseDecodeArgs& a) { a.out.stride[2] = 0; }, "out.stride[2]"},
    {"lse_shape", [](SparseDecodeArgs& a) { a.lse.shape[1] = 1; }, "lse.shape[1] (h_q)"},
    {"lse_dtype", [](SparseDecodeArgs& a) { a.lse.dtype = DType::kBF16; }, "lse.dtype"},
    {"out_aliases_q", [](SparseDecodeArgs& a) { a.out.data = a.q.data; }, "out: expected memory disjoint from q"},
    {"lse_aliases_out", [](SparseDecodeArgs& a) { a.lse.data = a.out.data; }, "lse: expected memory disjoint from out"},
    {"scale_negative", [](SparseDecodeArgs& a) { a.softmax_scale = -1.0f; }, "softmax_scale"},
    {"scale_nan", [](SparseDecodeArgs& a) { a.softmax_scale = NAN; }, "softmax_scale"},
    {"num_splits_negative", [](SparseDecodeArgs& a) { a.num_splits = -1; }, "num_splits: expected >= 0"},
};

class SparseValidation : public ::testing::TestWithParam<BadCase> {};

TEST_P(SparseValidation, RejectsWithMessageAndWritesNothing) {
  auto s = base(KvFormat::kSparseV32, 2, 2, 4, 16, 64);
  s.topk_length = true;
  s.sink = SinkKind::kRandom;
  s.extra_topk = 8;
  s = finish(s);
  SparseHostCase c = make_sparse_case(s);
  SparseDecodeArgs a = make_sparse_args(c, host_pointers(c));
  ASSERT_TRUE(can_implement(a).ok());
  GetParam().mutate(a);
  const Status st = sparse_decode(a);
  ASSERT_FALSE(st.ok()) << GetParam().name;
  EXPECT_NE(st.message().find(GetParam().fragment), std::string::npos)
      << GetParam().name << ": message \"" << st.message() << "\" lacks \"" << GetParam().fragment << "\"";
  EXPECT_FALSE(can_implement(a).ok());
  for (float l : c.lse) ASSERT_TRUE(std::isnan(l)) << GetParam().name << ": lse written";
  for (uint16_t o : c.out) ASSERT_EQ(o, numerics::kBF16QuietNaN) << GetParam().name << ": out written";
}
INSTANTIATE_TEST_SUITE_P(Table, SparseValidation, ::testing::ValuesIn(kBadCases),
                         [](const auto& info) { return std::string(info.param.name); });

// The split plan (src/kernels/sm90/sparse_decode/split_plan.h) as sparse_decode_workspace_size() exposes
// it: bytes = b * n * s_q * h_q * (512 + 1) * 4 (+ the lse padding, the [b + 1] slot prefix and a word).
size_t split_bytes(int64_t b, int64_t n, int64_t s_q, int64_t h_q) {
  const int64_t rows = b * n * s_q * h_q;
  return static_cast<size_t>(rows * 2048 + (rows * 4 + 15) / 16 * 16 + (b + 1) * 4 + 4);
}

TEST(SparseDecodeApi, WorkspaceZeroWhenTheGridIsFull) {
  EXPECT_EQ(sparse_decode_workspace_size(128, 2, 128, 2048, 0), 0u);  // 512 CTAs >= 132 SMs
  EXPECT_EQ(sparse_decode_workspace_size(66, 1, 128, 2048, 0), 0u);   // 132 CTAs
  EXPECT_EQ(sparse_decode_workspace_size(64, 2, 64, 128, 512), 0u);   // 128 CTAs: a second wave would not pay
  EXPECT_EQ(sparse_decode_workspace_size(1, 1, 128, 192, 0), 0u);     // 3 blocks: < 2 per split
  EXPECT_EQ(sparse_decode_workspace_size(2, 2, 128, 2048, 0, 1), 0u); // forced unsplit
}

TEST(SparseDecodeApi, WorkspaceOfAutomaticSplits) {
  // b 2, s_q 2, h_q 128: 8 CTAs; 32 blocks -> floor(132 / 8) = 16 splits of 2 blocks.
  EXPECT_EQ(sparse_decode_workspace_size(2, 2, 128, 2048, 0), split_bytes(2, 16, 2, 128));
  // b 1, s_q 1, h_q 128: 2 CTAs; at least 2 blocks per split -> 16 splits.
  EXPECT_EQ(sparse_decode_workspace_size(1, 1, 128, 2048, 0), split_bytes(1, 16, 1, 128));
  // b 32, s_q 1, h_q 128: 64 CTAs -> 2 splits of 16 blocks.
  EXPECT_EQ(sparse_decode_workspace_size(32, 1, 128, 2048, 0), split_bytes(32, 2, 1, 128));
  // b 3, s_q 1, h_q 16, topk 100 + extra 300 (2 + 5 blocks): 3 CTAs, n_max 3 -> 3 blocks a split -> 3 splits.
  EXPECT_EQ(sparse_decode_workspace_size(3, 1, 16, 100, 300), split_bytes(3, 3, 1, 16));
  // b 40, s_q 1, h_q 64: 40 CTAs, n_max 3 of 32 blocks -> 11 blocks a split -> 3 splits.
  EXPECT_EQ(sparse_decode_workspace_size(40, 1, 64, 2048, 0), split_bytes(40, 3, 1, 64));
  // Every automatic plan stays within one wave of 132 CTAs: <= 132 * 64 rows of partials.
  for (int b : {1, 2, 3, 5, 17, 65})
    for (int h : {1, 16, 64, 128})
      EXPECT_LE(sparse_decode_workspace_size(b, 1, h, 16384, 512), split_bytes(1, 1, 132, 64) + (b + 1) * 4u)
          << "b " << b << " h " << h;
}

TEST(SparseDecodeApi, WorkspaceOfForcedSplits) {
  EXPECT_EQ(sparse_decode_workspace_size(128, 2, 128, 2048, 0, 4), split_bytes(128, 4, 2, 128));
  EXPECT_EQ(sparse_decode_workspace_size(2, 1, 8, 100, 0, 1000), split_bytes(2, 2, 1, 8));  // clamped to 2 blocks
  EXPECT_EQ(sparse_decode_workspace_size(2, 1, 8, 1, 0, 7), 0u);  // one block: nothing to split
  EXPECT_EQ(sparse_decode_workspace_size(2, 1, 8, 100, 0, -1), 0u);  // invalid: sparse_decode reports it
  EXPECT_EQ(sparse_decode_workspace_size(-1, 1, 8, 100, 0), 0u);
  EXPECT_EQ(sparse_decode_workspace_size(1 << 20, 2047, 1, 1 << 30, 0, 1 << 24), SIZE_MAX);  // overflow
}

// The CPU backend ignores num_splits and needs no workspace.
TEST(SparseDecodeApi, CpuIgnoresNumSplits) {
  auto s = finish(base(KvFormat::kSparseV32, 2, 1, 4, 200, 64));
  SparseHostCase c = make_sparse_case(s);
  SparseDecodeArgs a = make_sparse_args(c, host_pointers(c));
  ASSERT_TRUE(sparse_decode(a).ok());
  const std::vector<uint16_t> ref = c.out;
  poison(c);
  a.num_splits = 3;
  ASSERT_TRUE(sparse_decode(a).ok());
  EXPECT_EQ(c.out, ref);
}

}  // namespace
}  // namespace flashmla::test
