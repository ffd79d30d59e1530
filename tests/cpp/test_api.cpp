// The public C++ API (include/flashmla/flashmla.h) on the CPU: version and capabilities, the SM
// partition count, workspace sizes, compute_schedule against the CPU twin, and an end-to-end decode
// checked against a tiny reference computed in double right here (independent of the CPU backend).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/workspace.h"
#include "cpu/cpu_backend.h"
#include "flashmla/flashmla.h"

namespace {

using flashmla::DecodeArgs;
using flashmla::DeviceType;
using flashmla::DType;
using flashmla::ScheduleArgs;
using flashmla::Status;
using flashmla::StatusCode;

// ---- exact 16-bit encodings of the small values k/64 used as inputs, and decoding of outputs --------

uint16_t encode16(float f, DType t) {
  if (t == DType::kBF16) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    EXPECT_EQ(bits & 0xFFFFu, 0u) << f << " is not exact in bfloat16";
    return static_cast<uint16_t>(bits >> 16);
  }
  if (f == 0.0f) return std::signbit(f) ? 0x8000 : 0;
  int e = 0;
  const float m = std::frexp(std::fabs(f), &e);  // |f| = m * 2^e, m in [0.5, 1)
  const float mant = (2.0f * m - 1.0f) * 1024.0f;
  EXPECT_EQ(mant, std::floor(mant)) << f << " is not exact in float16";
  EXPECT_GE(e - 1 + 15, 1) << f << " is not a normal float16";
  return static_cast<uint16_t>((f < 0 ? 0x8000 : 0) | ((e - 1 + 15) << 10) | static_cast<uint16_t>(mant));
}

double decode16(uint16_t h, DType t) {
  if (t == DType::kBF16) {
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  const int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
  double v;
  if (exp == 0) v = std::ldexp(mant, -24);
  else if (exp == 31) v = mant ? std::nan("") : std::numeric_limits<double>::infinity();
  else v = std::ldexp(1024 + mant, exp - 25);
  return sign ? -v : v;
}

constexpr uint16_t kNaN16 = 0x7FC0;  // NaN in bfloat16 and in float16 (exponent all ones, mantissa != 0)

// ======================================= capabilities ================================================

TEST(Api, Version) { EXPECT_STREQ(flashmla::version(), "0.1.0"); }

TEST(Api, DeviceSupportedMatchesBuild) {
  if (!flashmla::built_with_cuda()) {
    const Status st = flashmla::device_supported(0);
    EXPECT_EQ(st.code(), StatusCode::kNotSupported);
    EXPECT_NE(st.message().find("built without CUDA"), std::string::npos) << st.message();
  } else {
    const Status st = flashmla::device_supported(-1);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("device_index: expected >= 0, got -1"), std::string::npos) << st.message();
  }
}

// ======================================= query_num_sm_parts ==========================================

int32_t cpu_parts(int32_t rows, int32_t h_kv, int32_t s_q) {
  int32_t parts = -1;
  const Status st = flashmla::query_num_sm_parts(DeviceType::kCPU, 0, rows, h_kv, s_q, &parts);
  EXPECT_TRUE(st.ok()) << st.message();
  return parts;
}

TEST(Api, QueryNumSmPartsCpuPlansFor132Sms) {
  EXPECT_EQ(cpu_parts(128, 1, 0), 66);   // 2 tiles of 64 rows
  EXPECT_EQ(cpu_parts(16, 1, 0), 132);   // 1 tile
  EXPECT_EQ(cpu_parts(64, 1, 0), 132);   // exactly one tile
  EXPECT_EQ(cpu_parts(65, 1, 0), 66);    // one row more: 2 tiles
  EXPECT_EQ(cpu_parts(128, 1, 2), 66);   // s_q = 2, 64 heads per KV head: one token per tile, 2 tiles
  EXPECT_EQ(cpu_parts(128, 1, 1), 66);   // 128 heads of one token: 2 tiles
  EXPECT_EQ(cpu_parts(96, 1, 3), 66);    // s_q = 3, 32 heads: 2 tokens per tile, 2 tiles
  EXPECT_EQ(cpu_parts(64, 1, 4), 132);   // s_q = 4, 16 heads: 4 tokens in one tile
  EXPECT_EQ(cpu_parts(64, 2, 0), 66);    // 2 KV heads
  EXPECT_EQ(cpu_parts(16, 8, 0), 16);    // 8 KV heads: 132 / 8
  EXPECT_EQ(cpu_parts(128 * 64, 1, 0), 1);  // more tiles than SMs: at least 1
}

TEST(Api, QueryNumSmPartsRejectsBadArguments) {
  int32_t parts = -7;
  Status st = flashmla::query_num_sm_parts(DeviceType::kCPU, 0, 128, 1, 0, nullptr);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "num_sm_parts: expected a non-null pointer, got null");

  st = flashmla::query_num_sm_parts(DeviceType::kCPU, 0, 0, 1, 0, &parts);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "num_q_rows_per_head_k: expected >= 1 (s_q * h_q / h_kv), got 0");

  st = flashmla::query_num_sm_parts(DeviceType::kCPU, 0, 128, 0, 0, &parts);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "num_heads_k: expected 1..8, got 0");

  st = flashmla::query_num_sm_parts(DeviceType::kCPU, 0, 128, 9, 0, &parts);
  EXPECT_EQ(st.code(), StatusCode::kNotSupported);
  EXPECT_EQ(st.message(), "num_heads_k: expected 1..8, got 9");

  st = flashmla::query_num_sm_parts(DeviceType::kCPU, 0, 128, 1, -2, &parts);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "s_q: expected >= 0 (0 = unknown), got -2");

  st = flashmla::query_num_sm_parts(static_cast<DeviceType>(9), 0, 128, 1, 0, &parts);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "device: expected cpu or cuda, got unknown device type (9)");
  EXPECT_EQ(parts, -7) << "nothing is written on error";
}

TEST(Api, QueryNumSmPartsCudaWithoutCudaBuild) {
  if (flashmla::built_with_cuda()) GTEST_SKIP() << "this build has the CUDA kernels";
  int32_t parts = -7;
  const Status st = flashmla::query_num_sm_parts(DeviceType::kCUDA, 0, 128, 1, 0, &parts);
  EXPECT_EQ(st.code(), StatusCode::kNotSupported);
  EXPECT_NE(st.message().find("built without CUDA kernels"), std::string::npos) << st.message();
  EXPECT_EQ(parts, -7);
}

// ======================================= decode_workspace_size =======================================

TEST(Api, WorkspaceSizeMatchesLayout) {
  for (int32_t b : {1, 3, 64})
    for (int32_t s_q : {1, 2})
      for (int32_t h_q : {1, 16, 128})
        for (int32_t parts : {1, 66, 132}) {
          const size_t got = flashmla::decode_workspace_size(b, s_q, h_q, 512, parts);
          EXPECT_EQ(got, flashmla::workspace_layout(b, s_q, h_q, 512, parts).total_bytes);
          // Enough for (b + parts) slots of fp32 partial outputs and LSEs.
          EXPECT_GE(got, static_cast<size_t>(b + parts) * s_q * h_q * (512 + 1) * sizeof(float));
        }
}

TEST(Api, WorkspaceSizeMonotonic) {
  const int32_t base[5] = {4, 2, 16, 512, 66};
  const size_t ref = flashmla::decode_workspace_size(base[0], base[1], base[2], base[3], base[4]);
  for (int arg = 0; arg < 5; ++arg) {
    int32_t v[5] = {base[0], base[1], base[2], base[3], base[4]};
    v[arg] *= 2;
    const size_t bigger = flashmla::decode_workspace_size(v[0], v[1], v[2], v[3], v[4]);
    EXPECT_GT(bigger, ref) << "doubling argument " << arg;
    v[arg] = base[arg] + 1;
    EXPECT_GE(flashmla::decode_workspace_size(v[0], v[1], v[2], v[3], v[4]), ref) << "argument " << arg << " + 1";
  }
}

TEST(Api, WorkspaceSizeEdgeCases) {
  EXPECT_EQ(flashmla::decode_workspace_size(-1, 1, 1, 512, 1), 0u);
  EXPECT_EQ(flashmla::decode_workspace_size(1, 1, 1, 512, -1), 0u);
  EXPECT_EQ(flashmla::decode_workspace_size(0, 1, 1, 512, 0), flashmla::workspace_layout(0, 1, 1, 512, 0).total_bytes);
  const int32_t big = std::numeric_limits<int32_t>::max();
  EXPECT_EQ(flashmla::decode_workspace_size(big, big, big, big, big), std::numeric_limits<size_t>::max());
}

// ======================================= compute_schedule ============================================

TEST(Api, ComputeScheduleMatchesCpuTwin) {
  const std::vector<std::vector<int32_t>> batches = {
      {1}, {0}, {64, 65, 0, 1, 4096, 127}, {100000, 3, 3, 3, 3, 3, 3, 3}, std::vector<int32_t>(37, 513)};
  for (const auto& seqlens : batches) {
    for (int32_t rows : {16, 128}) {
      int32_t parts = 0;
      ASSERT_TRUE(flashmla::query_num_sm_parts(DeviceType::kCPU, 0, rows, 1, 0, &parts).ok());
      const int32_t b = static_cast<int32_t>(seqlens.size());
      std::vector<int32_t> md(parts * 8, -99), ns(b + 1, -99), md_ref(parts * 8, -98), ns_ref(b + 1, -98);
      std::vector<int32_t> sl = seqlens;
      ScheduleArgs s;
      s.cache_seqlens = flashmla::make_view(sl.data(), DType::kInt32, {b});
      s.num_q_rows_per_head_k = rows;
      s.num_heads_k = 1;
      s.num_sm_parts = parts;
      s.tile_scheduler_metadata = flashmla::make_view(md.data(), DType::kInt32, {parts, 8});
      s.num_splits = flashmla::make_view(ns.data(), DType::kInt32, {b + 1});
      const Status st = flashmla::compute_schedule(s);
      ASSERT_TRUE(st.ok()) << st.message();
      flashmla::cpu::compute_schedule(seqlens.data(), b, parts, md_ref.data(), ns_ref.data());
      EXPECT_EQ(md, md_ref) << "batch of " << b << ", " << parts << " partitions";
      EXPECT_EQ(ns, ns_ref) << "batch of " << b << ", " << parts << " partitions";
      EXPECT_EQ(ns[0], 0);
      for (int32_t i = 0; i < b; ++i) EXPECT_GE(ns[i + 1], ns[i] + (seqlens[i] > 0 ? 1 : 0));
      EXPECT_EQ(sl, seqlens) << "cache_seqlens must not be modified";
    }
  }
}

// ======================================= end-to-end decode ===========================================

struct E2E {
  DType dtype;
  int32_t b, s_q, h_q, h_kv;
  std::vector<int32_t> seqlens;
  bool causal;
  float softmax_scale;  // <= 0: default
};

// Builds the inputs (shuffled pages, NaN in every cache row beyond each length and in a spare page),
// runs flashmla::decode on the CPU and compares with a double-precision evaluation of docs/spec.md §1.
void run_e2e(const E2E& e) {
  constexpr int64_t d = 576, dv = 512, page = 64;
  const int64_t b = e.b, s_q = e.s_q, h_q = e.h_q, h_kv = e.h_kv;
  int64_t max_blocks = 1, used_pages = 0;
  for (int32_t L : e.seqlens) {
    max_blocks = std::max<int64_t>(max_blocks, (L + page - 1) / page + 1);  // one spare column
    used_pages += (L + page - 1) / page;
  }
  const int64_t num_blocks = used_pages + 1;  // + a spare page full of NaN

  uint32_t x = 2024u + static_cast<uint32_t>(e.b * 7 + e.s_q);
  auto next_value = [&x]() {  // k/64, k in [-48, 48]: exact in bf16 and fp16
    x = x * 1664525u + 1013904223u;
    return static_cast<float>(static_cast<int32_t>((x >> 12) % 97) - 48) / 64.0f;
  };

  std::vector<uint16_t> q(b * s_q * h_q * d), k(num_blocks * page * h_kv * d, kNaN16);
  for (auto& v : q) v = encode16(next_value(), e.dtype);
  // Page ids: a fixed permutation of [0, num_blocks); unused table entries hold huge ids.
  std::vector<int32_t> perm(num_blocks);
  for (int64_t i = 0; i < num_blocks; ++i) perm[i] = static_cast<int32_t>((i * 5 + 3) % num_blocks);
  if (num_blocks % 5 == 0)
    for (int64_t i = 0; i < num_blocks; ++i) perm[i] = static_cast<int32_t>(num_blocks - 1 - i);
  std::vector<int32_t> table(b * max_blocks, 1 << 30);
  int64_t next_page = 0;
  for (int64_t i = 0; i < b; ++i) {
    const int64_t L = e.seqlens[i];
    for (int64_t p = 0; p * page < L; ++p) {
      const int32_t id = perm[next_page++];
      table[i * max_blocks + p] = id;
      for (int64_t r = 0; r < page && p * page + r < L; ++r)
        for (int64_t kh = 0; kh < h_kv; ++kh)
          for (int64_t c = 0; c < d; ++c) k[((id * page + r) * h_kv + kh) * d + c] = encode16(next_value(), e.dtype);
    }
  }
  std::vector<int32_t> seqlens = e.seqlens;
  std::vector<uint16_t> out(b * s_q * h_q * dv, 0x7FAB);
  std::vector<float> lse(b * h_q * s_q, -12345.0f);

  DecodeArgs a;
  a.q = flashmla::make_view(q.data(), e.dtype, {b, s_q, h_q, d});
  a.k_cache = flashmla::make_view(k.data(), e.dtype, {num_blocks, page, h_kv, d});
  a.block_table = flashmla::make_view(table.data(), DType::kInt32, {b, max_blocks});
  a.cache_seqlens = flashmla::make_view(seqlens.data(), DType::kInt32, {b});
  a.out = flashmla::make_view(out.data(), e.dtype, {b, s_q, h_q, dv});
  a.lse = flashmla::make_view(lse.data(), DType::kFP32, {b, h_q, s_q});
  a.causal = e.causal;
  a.softmax_scale = e.softmax_scale;
  ASSERT_TRUE(flashmla::can_implement(a).ok()) << flashmla::can_implement(a).message();
  const Status st = flashmla::decode(a);
  ASSERT_TRUE(st.ok()) << st.message();

  const double scale = e.softmax_scale > 0 ? e.softmax_scale : 1.0 / std::sqrt(static_cast<double>(d));
  const int64_t hpk = h_q / h_kv;
  std::vector<double> scores, acc(dv);
  int64_t checked_rows = 0, empty_rows = 0;
  for (int64_t i = 0; i < b; ++i) {
    const int64_t L = e.seqlens[i];
    for (int64_t j = 0; j < s_q; ++j) {
      const int64_t visible = e.causal ? std::max<int64_t>(0, L - (s_q - 1 - j)) : L;
      for (int64_t h = 0; h < h_q; ++h) {
        const int64_t kh = h / hpk;
        const uint16_t* qrow = &q[((i * s_q + j) * h_q + h) * d];
        scores.assign(visible, 0.0);
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t t = 0; t < visible; ++t) {
          const int64_t id = table[i * max_blocks + t / page];
          const uint16_t* krow = &k[((id * page + t % page) * h_kv + kh) * d];
          double dot = 0;
          for (int64_t c = 0; c < d; ++c) dot += decode16(qrow[c], e.dtype) * decode16(krow[c], e.dtype);
          scores[t] = dot * scale;
          mx = std::max(mx, scores[t]);
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        double sum = 0;
        for (int64_t t = 0; t < visible; ++t) {
          const double p = std::exp(scores[t] - mx);
          sum += p;
          const int64_t id = table[i * max_blocks + t / page];
          const uint16_t* vrow = &k[((id * page + t % page) * h_kv + kh) * d];
          for (int64_t c = 0; c < dv; ++c) acc[c] += p * decode16(vrow[c], e.dtype);
        }
        const uint16_t* orow = &out[((i * s_q + j) * h_q + h) * dv];
        const float got_lse = lse[(i * h_q + h) * s_q + j];
        const std::string where = "request " + std::to_string(i) + ", token " + std::to_string(j) + ", head " +
                                  std::to_string(h);
        if (visible == 0) {
          ++empty_rows;
          EXPECT_TRUE(std::isinf(got_lse) && got_lse > 0) << where << ": lse " << got_lse;
          for (int64_t c = 0; c < dv; ++c) ASSERT_EQ(decode16(orow[c], e.dtype), 0.0) << where << ", channel " << c;
          continue;
        }
        ++checked_rows;
        const double want_lse = mx + std::log(sum);
        EXPECT_TRUE(std::fabs(got_lse - want_lse) < 1e-6 || std::fabs(got_lse - want_lse) < 8.01 / 65536 * std::fabs(want_lse))
            << where << ": lse " << got_lse << " vs " << want_lse;
        for (int64_t c = 0; c < dv; ++c) {
          const double want = acc[c] / sum, got = decode16(orow[c], e.dtype);
          const double err = std::fabs(got - want);
          ASSERT_TRUE(err < 8e-4 || err < 2.01 / 128 * std::fabs(want))
              << where << ", channel " << c << ": " << got << " vs " << want;
        }
      }
    }
  }
  EXPECT_GT(checked_rows, 0);
  (void)empty_rows;
}

TEST(Api, DecodeEndToEndBf16) { run_e2e({DType::kBF16, 3, 1, 4, 1, {130, 0, 65}, false, 0.0f}); }

TEST(Api, DecodeEndToEndBf16CausalMtp) {
  // s_q = 2, two KV heads; request 1 has one token: its first query token sees nothing (out 0, lse +inf).
  run_e2e({DType::kBF16, 3, 2, 4, 2, {70, 1, 64}, true, 0.0f});
}

TEST(Api, DecodeEndToEndFp16CustomScale) { run_e2e({DType::kFP16, 2, 2, 3, 1, {63, 129}, false, 0.07f}); }

TEST(Api, DecodeIgnoresScheduleTensorsOnCpu) {
  // The CPU backend accepts (and ignores) a schedule computed by compute_schedule on CPU tensors.
  const int32_t b = 1;
  std::vector<uint16_t> q(576, encode16(0.25f, DType::kBF16)), k(64 * 576, encode16(0.5f, DType::kBF16));
  std::vector<int32_t> table{0}, seqlens{3}, md(8 * 4), ns(b + 1);
  std::vector<uint16_t> out(512, 0x7FAB);
  std::vector<float> lse(1, 0.0f);
  ScheduleArgs s;
  s.cache_seqlens = flashmla::make_view(seqlens.data(), DType::kInt32, {b});
  s.num_q_rows_per_head_k = 1;
  s.num_sm_parts = 4;
  s.tile_scheduler_metadata = flashmla::make_view(md.data(), DType::kInt32, {4, 8});
  s.num_splits = flashmla::make_view(ns.data(), DType::kInt32, {b + 1});
  ASSERT_TRUE(flashmla::compute_schedule(s).ok());
  DecodeArgs a;
  a.q = flashmla::make_view(q.data(), DType::kBF16, {1, 1, 1, 576});
  a.k_cache = flashmla::make_view(k.data(), DType::kBF16, {1, 64, 1, 576});
  a.block_table = flashmla::make_view(table.data(), DType::kInt32, {1, 1});
  a.cache_seqlens = s.cache_seqlens;
  a.tile_scheduler_metadata = s.tile_scheduler_metadata;
  a.num_splits = s.num_splits;
  a.out = flashmla::make_view(out.data(), DType::kBF16, {1, 1, 1, 512});
  a.lse = flashmla::make_view(lse.data(), DType::kFP32, {1, 1, 1});
  const Status st = flashmla::decode(a);
  ASSERT_TRUE(st.ok()) << st.message();
  // All keys equal: the output is the common value row, lse = score + log(3).
  for (uint16_t v : out) EXPECT_EQ(decode16(v, DType::kBF16), 0.5);
  EXPECT_NEAR(lse[0], 0.25 * 0.5 * 576 / 24.0 + std::log(3.0), 1e-5);
}

}  // namespace
