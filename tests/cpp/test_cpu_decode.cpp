// The CPU backend (the oracle of every GPU test) against the independent naive reference, on every
// "cpu_small" case with NaN-poisoned cache tails, spare pages, block-table garbage and output buffers;
// plus stride handling, thread-count invariance, argument errors, and the shared case sets themselves.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cases.h"
#include "flashmla/flashmla.h"
#include "common/numerics.h"
#include "compare.h"
#include "cpu/cpu_backend.h"
#include "naive_reference.h"

using namespace flashmla;
using namespace flashmla::test;

namespace flashmla::test {
// gtest prints parameters through this (found by ADL): the case name instead of raw bytes.
void PrintTo(const CaseSpec& spec, std::ostream* os) { *os << spec.name; }
}  // namespace flashmla::test

namespace {

// Through the public entry point: validation, the registry, then the CPU variant.
Status run_cpu(HostCase& c) {
  const CaseViews v = host_views(c);
  return flashmla::decode(make_decode_args(c.spec, v));
}

int64_t visible_keys(const HostCase& c, int32_t i, int32_t j) {
  const int64_t L = c.seqlens[i];
  const int64_t v = c.spec.causal ? L - (c.dims.s_q - 1 - j) : L;
  return v < 0 ? 0 : v;
}

// x is the correctly rounded value of v, allowing for v lying within 1e-9 (relative) of a tie.
bool rounds_from(uint16_t x, double v, DType t) {
  for (double e : {0.0, 1e-9, -1e-9}) {
    if (numerics::double_to_half(v * (1 + e) + e * 1e-6, t) == x) return true;
  }
  return false;
}

std::vector<int64_t> out_shape(const HostCase& c) { return {c.dims.batch, c.dims.s_q, c.dims.h_q, kDV}; }
std::vector<int64_t> lse_shape(const HostCase& c) { return {c.dims.batch, c.dims.h_q, c.dims.s_q}; }

class CpuDecodeSmall : public ::testing::TestWithParam<CaseSpec> {};

TEST_P(CpuDecodeSmall, MatchesNaiveReference) {
  HostCase c = make_case(GetParam());
  const Status st = run_cpu(c);
  ASSERT_TRUE(st.ok()) << st.message();
  const NaiveResult ref = naive_decode(c);
  const DType dt = c.spec.dtype;
  const int32_t b = c.dims.batch, s_q = c.dims.s_q, h_q = c.dims.h_q;

  // 1. Strict: every output element is the correctly rounded float64 reference; lse within float rounding.
  int64_t bad_out = 0, bad_lse = 0;
  std::string first;
  for (int32_t i = 0; i < b; ++i) {
    for (int32_t j = 0; j < s_q; ++j) {
      const bool empty = visible_keys(c, i, j) == 0;
      for (int32_t h = 0; h < h_q; ++h) {
        const size_t lidx = (static_cast<size_t>(i) * h_q + h) * s_q + j;
        const float got_lse = c.lse[lidx];
        const bool lse_ok = empty ? (got_lse == std::numeric_limits<float>::infinity())
                                  : (std::isfinite(got_lse) && std::fabs(got_lse - ref.lse[lidx]) <=
                                                                   std::fabs(ref.lse[lidx]) * 0x1.0p-23 + 1e-12);
        if (!lse_ok && bad_lse++ == 0 && first.empty()) {
          first = "lse" + format_index(static_cast<int64_t>(lidx), lse_shape(c)) + " = " + std::to_string(got_lse) +
                  ", reference " + std::to_string(ref.lse[lidx]);
        }
        for (int32_t d = 0; d < kDV; ++d) {
          const size_t oidx = ((static_cast<size_t>(i) * s_q + j) * h_q + h) * kDV + d;
          const uint16_t x = c.out[oidx];
          const bool ok = empty ? x == 0 : rounds_from(x, ref.out[oidx], dt);
          if (!ok && bad_out++ == 0 && first.empty()) {
            first = "out" + format_index(static_cast<int64_t>(oidx), out_shape(c)) + " = " +
                    std::to_string(numerics::half_to_float(x, dt)) + ", reference " + std::to_string(ref.out[oidx]);
          }
        }
      }
    }
  }
  EXPECT_EQ(bad_out, 0) << first;
  EXPECT_EQ(bad_lse, 0) << first;

  // 2. The project's layered tolerances (what GPU results are held to) hold trivially here.
  std::vector<uint16_t> ref_out(ref.out.size());
  for (size_t k = 0; k < ref.out.size(); ++k) ref_out[k] = numerics::double_to_half(ref.out[k], dt);
  std::vector<float> ref_lse(ref.lse.begin(), ref.lse.end());
  const CompareResult co = compare_out(c.out.data(), ref_out.data(), ref_out.size(), dt, out_shape(c));
  const CompareResult cl = compare_lse(c.lse.data(), ref_lse.data(), ref_lse.size(), lse_shape(c));
  EXPECT_TRUE(co.ok) << co.message;
  EXPECT_TRUE(cl.ok) << cl.message;
}

// Changing every byte nobody may read (NaN -> inf / huge / other garbage, other garbage page ids)
// changes no output bit.
TEST_P(CpuDecodeSmall, PoisonNeverLeaks) {
  const CaseSpec& spec = GetParam();
  HostCase a = make_case(spec);
  HostCase b = a;
  const uint16_t alt[] = {0x7c00, 0xfc00, 0x7f80, 0x7bff, 0x7fff, 0x4b00};
  int64_t changed = 0;
  for (size_t k = 0; k < b.k_cache.size(); ++k) {
    if (std::isnan(numerics::half_to_float(b.k_cache[k], spec.dtype))) {
      b.k_cache[k] = alt[k % 6];
      ++changed;
    }
  }
  for (int32_t i = 0; i < b.dims.batch; ++i) {
    const int32_t n = (b.seqlens[i] + kPage - 1) / kPage;
    for (int32_t k = n; k < b.dims.max_blocks; ++k)
      b.block_table[static_cast<size_t>(i) * b.dims.max_blocks + k] = -12345 - k;
  }
  ASSERT_GT(changed, 0);
  ASSERT_TRUE(run_cpu(a).ok());
  ASSERT_TRUE(run_cpu(b).ok());
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(0, std::memcmp(a.lse.data(), b.lse.data(), a.lse.size() * sizeof(float)));
  for (uint16_t x : a.out) ASSERT_FALSE(std::isnan(numerics::half_to_float(x, spec.dtype)));
}

std::string param_name(const ::testing::TestParamInfo<CaseSpec>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Cases, CpuDecodeSmall, ::testing::ValuesIn(case_set("cpu_small")), param_name);

// ---- strides -------------------------------------------------------------------------------------

// Copies of a case's tensors in unusual layouts: padded rows, permuted batch/token dims, a transposed
// lse, a strided block table and seqlens, and optionally non-unit last-dimension strides.
void check_strided(const CaseSpec& spec, bool unit_last_dim) {
  HostCase c = make_case(spec);
  ASSERT_TRUE(run_cpu(c).ok());
  const int32_t b = c.dims.batch, s_q = c.dims.s_q, h_q = c.dims.h_q, h_kv = c.dims.h_kv;
  const int64_t nb = c.dims.num_blocks, mb = c.dims.max_blocks;
  const int64_t e = unit_last_dim ? 1 : 2;  // last-dimension stride
  const uint16_t nan = numerics::quiet_nan_bits(spec.dtype);

  // q as [s_q][b][h_q][pad] (batch and token swapped), row pitch 600 elements.
  const int64_t qrow = 600 * e;
  std::vector<uint16_t> q(static_cast<size_t>(s_q) * b * h_q * qrow, nan);
  for (int32_t i = 0; i < b; ++i)
    for (int32_t j = 0; j < s_q; ++j)
      for (int32_t h = 0; h < h_q; ++h)
        for (int32_t d = 0; d < kD; ++d)
          q[((static_cast<size_t>(j) * b + i) * h_q + h) * qrow + d * e] =
              c.q[((static_cast<size_t>(i) * s_q + j) * h_q + h) * kD + d];
  // k_cache with row pitch 640 * e and a page pitch with slack.
  const int64_t krow = 640 * e, kpage = kPage * h_kv * krow + 64;
  std::vector<uint16_t> k(static_cast<size_t>(nb * kpage), nan);
  for (int64_t p = 0; p < nb; ++p)
    for (int32_t r = 0; r < kPage; ++r)
      for (int32_t g = 0; g < h_kv; ++g)
        for (int32_t d = 0; d < kD; ++d)
          k[p * kpage + (static_cast<int64_t>(r) * h_kv + g) * krow + d * e] =
              c.k_cache[((p * kPage + r) * h_kv + g) * kD + d];
  // block_table with row pitch mb + 3, seqlens with stride 2.
  std::vector<int32_t> bt(static_cast<size_t>(b) * (mb + 3), -1), sl(static_cast<size_t>(b) * 2, -777);
  for (int32_t i = 0; i < b; ++i) {
    for (int64_t x = 0; x < mb; ++x) bt[i * (mb + 3) + x] = c.block_table[i * mb + x];
    sl[i * 2] = c.seqlens[i];
  }
  // out with row pitch 520 * e (sentinels between rows must survive); lse transposed to [b][s_q][h_q].
  const uint16_t sentinel = 0x1234;
  const int64_t orow = 520 * e;
  std::vector<uint16_t> out(static_cast<size_t>(b) * s_q * h_q * orow, sentinel);
  std::vector<float> lse(static_cast<size_t>(b) * s_q * h_q, -42.0f);

  DecodeArgs a = make_decode_args(c.spec, host_views(c));
  a.q.data = q.data();
  a.q.stride[0] = h_q * qrow;
  a.q.stride[1] = static_cast<int64_t>(b) * h_q * qrow;
  a.q.stride[2] = qrow;
  a.q.stride[3] = e;
  a.k_cache.data = k.data();
  a.k_cache.stride[0] = kpage;
  a.k_cache.stride[1] = h_kv * krow;
  a.k_cache.stride[2] = krow;
  a.k_cache.stride[3] = e;
  a.block_table.data = bt.data();
  a.block_table.stride[0] = mb + 3;
  a.block_table.stride[1] = 1;
  a.cache_seqlens.data = sl.data();
  a.cache_seqlens.stride[0] = 2;
  a.out.data = out.data();
  a.out.stride[0] = static_cast<int64_t>(s_q) * h_q * orow;
  a.out.stride[1] = h_q * orow;
  a.out.stride[2] = orow;
  a.out.stride[3] = e;
  a.lse.data = lse.data();
  a.lse.stride[0] = static_cast<int64_t>(s_q) * h_q;
  a.lse.stride[1] = 1;
  a.lse.stride[2] = h_q;
  const Status st = cpu::decode(a, make_decode_shape(c.spec, c.dims));
  ASSERT_TRUE(st.ok()) << st.message();

  int64_t mismatches = 0, clobbered = 0;
  for (int32_t i = 0; i < b; ++i)
    for (int32_t j = 0; j < s_q; ++j)
      for (int32_t h = 0; h < h_q; ++h) {
        const size_t base = ((static_cast<size_t>(i) * s_q + j) * h_q + h) * orow;
        for (int64_t x = 0; x < orow; ++x) {
          const bool in_view = x % e == 0 && x / e < kDV;
          if (in_view) {
            mismatches += out[base + x] != c.out[((static_cast<size_t>(i) * s_q + j) * h_q + h) * kDV + x / e];
          } else {
            clobbered += out[base + x] != sentinel;
          }
        }
        const float want = c.lse[(static_cast<size_t>(i) * h_q + h) * s_q + j];
        const float got = lse[(static_cast<size_t>(i) * s_q + j) * h_q + h];
        mismatches += std::memcmp(&want, &got, sizeof(float)) != 0;
      }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(clobbered, 0);
}

}  // namespace

TEST(CpuDecodeStrides, PaddedAndPermutedViews) {
  check_strided(list_case({65, 0, 140}, 2, 6, 2, true, DType::kBF16), true);
  check_strided(list_case({1, 127}, 4, 9, 3, false, DType::kFP16), true);
}

TEST(CpuDecodeStrides, NonUnitLastDimension) { check_strided(list_case({70, 3}, 2, 4, 1, true, DType::kFP16), false); }

TEST(CpuDecodeThreads, ResultIndependentOfThreadCount) {
  const CaseSpec spec = list_case({300, 0, 64, 129}, 4, 16, 2, true, DType::kBF16);
  std::vector<uint16_t> first_out;
  std::vector<float> first_lse;
  const char* old = std::getenv("FLASHMLA_CPU_THREADS");
  const std::string saved = old ? old : "";
  for (const char* t : {"1", "3", "8"}) {
    setenv("FLASHMLA_CPU_THREADS", t, 1);
    HostCase c = make_case(spec);
    ASSERT_TRUE(run_cpu(c).ok());
    if (first_out.empty()) {
      first_out = c.out;
      first_lse = c.lse;
    } else {
      EXPECT_EQ(c.out, first_out) << "threads " << t;
      EXPECT_EQ(0, std::memcmp(c.lse.data(), first_lse.data(), first_lse.size() * sizeof(float))) << "threads " << t;
    }
  }
  if (old)
    setenv("FLASHMLA_CPU_THREADS", saved.c_str(), 1);
  else
    unsetenv("FLASHMLA_CPU_THREADS");
}

TEST(CpuDecodeErrors, BadPagesAndLengthsWriteNothing) {
  const CaseSpec spec = list_case({100, 20}, 1, 3, 1, false, DType::kBF16);
  auto expect_rejected = [&](HostCase& c, const char* what) {
    const std::vector<uint16_t> out_before = c.out;
    const Status st = run_cpu(c);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << what;
    EXPECT_FALSE(st.message().empty()) << what;
    EXPECT_EQ(c.out, out_before) << what;
    for (float x : c.lse) EXPECT_TRUE(std::isnan(x)) << what;
  };
  {
    HostCase c = make_case(spec);
    c.block_table[1] = c.dims.num_blocks;  // request 0, page 1 (used): out of range
    expect_rejected(c, "page id == num_blocks");
  }
  {
    HostCase c = make_case(spec);
    c.block_table[c.dims.max_blocks] = -1;  // request 1, page 0
    expect_rejected(c, "negative page id");
  }
  {
    HostCase c = make_case(spec);
    c.seqlens[1] = -3;
    expect_rejected(c, "negative seqlen");
  }
  {
    HostCase c = make_case(spec);
    c.seqlens[0] = c.dims.max_blocks * kPage + 1;
    expect_rejected(c, "block table too short");
  }
  {
    // Garbage past ceil(L / 64) is fine (make_case puts 0x7fffffff, -1, ... there).
    HostCase c = make_case(spec);
    EXPECT_TRUE(run_cpu(c).ok());
  }
}

// ---- the shared case sets ------------------------------------------------------------------------

TEST(CaseSets, EverySetIsWellFormed) {
  for (const std::string& set : case_set_names()) {
    const std::vector<CaseSpec> specs = case_set(set);
    ASSERT_FALSE(specs.empty()) << set;
    std::set<std::string> names;
    for (const CaseSpec& s : specs) {
      EXPECT_TRUE(names.insert(s.name).second) << set << ": duplicate name " << s.name;
      for (char ch : s.name) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_') << s.name;
      EXPECT_EQ(static_cast<int32_t>(s.seqlens.size()), s.batch) << s.name;
      EXPECT_GT(s.h_kv, 0) << s.name;
      EXPECT_EQ(s.h_q % s.h_kv, 0) << s.name;
      EXPECT_LE(s.h_kv, kMaxHeadsK) << s.name;
      for (int32_t L : s.seqlens) EXPECT_GE(L, 0) << s.name;
      EXPECT_NE(s.seed, 0u) << s.name;
      EXPECT_TRUE(name_matches(s.name, "*" + s.name.substr(0, 4) + "*")) << s.name;
    }
  }
  EXPECT_TRUE(case_set("no_such_set").empty());
}

TEST(CaseSets, GpuMatrixCoversEveryAxisValue) {
  const std::vector<CaseSpec> m = case_set("gpu_matrix");
  EXPECT_GE(m.size(), 120u);
  EXPECT_LE(m.size(), 200u);
  std::map<int32_t, int> by_b, by_sq, by_hq, by_hkv, by_len;
  int causal = 0, fp16 = 0, huge = 0, with_zero = 0, varlen = 0;
  double oracle = 0;
  for (const CaseSpec& s : m) {
    ++by_b[s.batch];
    ++by_sq[s.s_q];
    ++by_hq[s.h_q];
    ++by_hkv[s.h_kv];
    std::set<int32_t> lens(s.seqlens.begin(), s.seqlens.end());
    for (int32_t L : lens) ++by_len[L];
    causal += s.causal;
    fp16 += s.dtype == DType::kFP16;
    bool big = false;
    for (int32_t L : s.seqlens) big = big || L >= 16384;
    huge += s.batch == 128 && big;
    with_zero += lens.count(0) > 0;
    varlen += s.name.find("Lvar") != std::string::npos;
    for (int32_t L : s.seqlens) oracle += double(L) * s.s_q * s.h_q * 2 * (kD + kDV);
  }
  for (int32_t v : {1, 2, 6, 64, 128}) EXPECT_GE(by_b[v], 10) << "b = " << v;
  for (int32_t v : {1, 2, 4}) EXPECT_GE(by_sq[v], 20) << "s_q = " << v;
  for (int32_t v : {1, 3, 9, 16, 63, 64, 126, 128}) EXPECT_GE(by_hq[v], 4) << "h_q = " << v;
  for (int32_t v : {1, 2, 3, 8}) EXPECT_GE(by_hkv[v], 8) << "h_kv = " << v;
  for (int32_t v : {1, 20, 63, 64, 65, 140, 4096, 16384}) EXPECT_GE(by_len[v], 4) << "L = " << v;
  EXPECT_GE(causal, 40);
  EXPECT_GE(int(m.size()) - causal, 40);
  EXPECT_GE(fp16, 40);
  EXPECT_GE(int(m.size()) - fp16, 40);
  EXPECT_GE(huge, 2);
  EXPECT_LE(huge, 4);
  EXPECT_GE(with_zero, 10);
  EXPECT_GE(varlen, 10);
  // The float64 oracle's total work stays affordable (16 cores: ~2 minutes).
  EXPECT_LT(oracle, 2.5e12);
  std::printf("gpu_matrix: %zu cases, oracle work %.0f GFLOP\n", m.size(), oracle / 1e9);
}

TEST(CaseSets, BenchSetsMatchPerfTables) {
  const auto compute = case_set("bench_compute"), memory = case_set("bench_memory"),
             latency = case_set("bench_latency"), mtp = case_set("bench_mtp");
  EXPECT_EQ(compute.size(), 10u);
  EXPECT_EQ(memory.size(), 6u);
  EXPECT_EQ(latency.size(), 5u);
  EXPECT_EQ(mtp.size(), 2u);
  EXPECT_EQ(case_set("bench_all").size(), 23u);
  for (const CaseSpec& s : compute) {
    EXPECT_EQ(s.batch, 128);
    EXPECT_EQ(s.h_q, 128);
    EXPECT_EQ(s.h_kv, 1);
    EXPECT_EQ(s.dtype, DType::kBF16);
  }
  for (const CaseSpec& s : memory) EXPECT_EQ(s.s_q, 1);
  for (const CaseSpec& s : mtp) EXPECT_EQ(s.s_q, 4);
  // FlashMLA's varlen draw: every length >= s_q, mean near the target.
  const CaseSpec v = compute[2];  // s_k = 16384
  EXPECT_EQ(v.name, "b128_sq1_h128_hkv1_Lvar16384_nocausal_bf16");
  EXPECT_NEAR(mean_seqlen(v), 16384, 16384 * 0.15);
  for (int32_t L : v.seqlens) EXPECT_GE(L, 1);
  EXPECT_EQ(latency[0].name, "b1_sq1_h128_hkv1_L8192_causal_bf16");
  EXPECT_DOUBLE_EQ(case_flops(latency[0]), 128.0 * 8192 * 2 * (576 + 512));
  EXPECT_DOUBLE_EQ(case_bytes(latency[0]), 128.0 * 576 * 2 + 8192.0 * 576 * 2 + 128.0 * 512 * 2);
}

TEST(CaseSets, FilterIsGtestStyle) {
  EXPECT_TRUE(name_matches("b6_sq2_h63_hkv3_L65_causal_bf16", "*_causal_*"));
  EXPECT_FALSE(name_matches("b6_sq2_h63_hkv3_L65_nocausal_bf16", "*_causal_*"));
  EXPECT_TRUE(name_matches("b6_sq2_h63_hkv3_L65_causal_bf16", "b1_*:b6_*"));
  EXPECT_FALSE(name_matches("b6_sq2_h63_hkv3_L65_causal_bf16", "*-*fp16:*L65*"));
  EXPECT_TRUE(name_matches("b6_sq2_h63_hkv3_L65_causal_bf16", "b?_sq2*-*fp16"));
  EXPECT_TRUE(name_matches("anything", ""));
  EXPECT_EQ(filter_cases(case_set("bench_memory"), "*_h16_*").size(), 2u);
}

TEST(CaseSets, MakeCaseLayout) {
  const CaseSpec spec = list_case({65, 0, 128, 1}, 2, 3, 3, true, DType::kFP16);
  const HostCase c = make_case(spec);
  const CaseDims& d = c.dims;
  EXPECT_EQ(d.num_blocks, 2 + 0 + 2 + 1 + kSparePages);
  EXPECT_EQ(d.max_blocks, 4);
  EXPECT_EQ(c.q.size(), size_t(d.q_numel()));
  EXPECT_EQ(c.k_cache.size(), size_t(d.k_numel()));
  std::vector<int> owner(d.num_blocks, 0);
  auto isnan16 = [&](uint16_t x) { return std::isnan(numerics::half_to_float(x, spec.dtype)); };
  for (int32_t i = 0; i < d.batch; ++i) {
    const int32_t L = c.seqlens[i], n = (L + 63) / 64;
    for (int32_t k = 0; k < d.max_blocks; ++k) {
      const int32_t id = c.block_table[i * d.max_blocks + k];
      if (k >= n) {
        EXPECT_TRUE(id < 0 || id >= d.num_blocks) << "unused entry holds a valid page id";
        continue;
      }
      ASSERT_GE(id, 0);
      ASSERT_LT(id, d.num_blocks);
      ++owner[id];
      for (int32_t r = 0; r < kPage; ++r) {
        const bool used = k * kPage + r < L;
        for (int64_t x = 0; x < int64_t(d.h_kv) * kD; ++x) {
          const uint16_t v = c.k_cache[(int64_t(id) * kPage + r) * d.h_kv * kD + x];
          ASSERT_EQ(isnan16(v), !used) << "page " << k << " row " << r;
          if (used) {
            ASSERT_LE(std::fabs(numerics::half_to_float(v, spec.dtype)), 1.0f);
          }
        }
      }
    }
  }
  int spare = 0;
  for (int32_t p = 0; p < d.num_blocks; ++p) {
    EXPECT_LE(owner[p], 1);
    if (owner[p] == 0) {
      ++spare;
      for (int64_t x = 0; x < int64_t(kPage) * d.h_kv * kD; ++x)
        ASSERT_TRUE(isnan16(c.k_cache[p * kPage * d.h_kv * kD + x]));
    }
  }
  EXPECT_EQ(spare, kSparePages);
  for (uint16_t x : c.q) ASSERT_FALSE(isnan16(x));
  for (uint16_t x : c.out) ASSERT_TRUE(isnan16(x));
  for (float x : c.lse) ASSERT_TRUE(std::isnan(x));
  // Views carry the shapes.
  const CaseViews v = make_views(d, spec.dtype, CasePointers{});
  EXPECT_EQ(v.k_cache.shape[0], d.num_blocks);
  EXPECT_EQ(v.lse.shape[1], 3);
  EXPECT_EQ(v.lse.dtype, DType::kFP32);
  EXPECT_EQ(v.block_table.shape[1], d.max_blocks);
}

TEST(CaseSets, MakeCaseIsDeterministicAndThreadIndependent) {
  const CaseSpec spec = varlen_case(5, 2, 16, 2, 200, true, DType::kBF16, 1);
  MakeOptions one, many;
  one.threads = 1;
  many.threads = 5;
  const HostCase a = make_case(spec, one), b = make_case(spec, many), c = make_case(spec);
  EXPECT_EQ(a.q, b.q);
  EXPECT_EQ(a.k_cache, b.k_cache);
  EXPECT_EQ(a.block_table, b.block_table);
  EXPECT_EQ(a.k_cache, c.k_cache);
  // Different cases get different data.
  const HostCase other = make_case(varlen_case(5, 2, 16, 2, 200, false, DType::kBF16, 1));
  EXPECT_NE(a.q, other.q);
}

TEST(CaseSets, SomeCasesOfEverySetCanBeMade) {
  // The smallest cases of every set, plus a benchmark case without poisoning.
  for (const std::string& set : case_set_names()) {
    std::vector<CaseSpec> specs = case_set(set);
    std::sort(specs.begin(), specs.end(), [](const CaseSpec& x, const CaseSpec& y) {
      return case_dims(x).k_numel() + case_dims(x).q_numel() < case_dims(y).k_numel() + case_dims(y).q_numel();
    });
    for (size_t k = 0; k < std::min<size_t>(2, specs.size()); ++k) {
      if (case_dims(specs[k]).k_numel() > (int64_t(1) << 26)) continue;  // > 128 MB: not here
      MakeOptions opt;
      opt.poison = set.rfind("bench", 0) != 0;
      const HostCase c = make_case(specs[k], opt);
      EXPECT_EQ(c.k_cache.size(), size_t(c.dims.k_numel())) << specs[k].name;
    }
  }
}
