// GPU decode vs the CPU backend on the named adversarial matrix (cases.h "gpu_matrix"), plus the
// cases the matrix cannot express: strided views, every partition count, invalid lengths, debug mode.
// Outputs are poisoned (NaN) before every run, so every element must be written.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>

#include "gpu_harness.h"

namespace flashmla::test {

// gtest prints parameters through this (found by ADL): the case name instead of raw bytes.
void PrintTo(const CaseSpec& spec, std::ostream* os) { *os << spec.name; }

namespace {

// Worst errors over the whole suite, printed (and written to $FLASHMLA_GPU_SUMMARY) at the end.
struct SuiteStats {
  std::mutex mu;
  int cases = 0;
  double worst_out_abs = 0, worst_out_cos = 0, worst_lse_abs = 0;
  std::string worst_out_case, worst_lse_case;
  void add(const std::string& name, const CompareResult& o, const CompareResult& l) {
    std::lock_guard<std::mutex> g(mu);
    ++cases;
    if (o.max_abs > worst_out_abs) worst_out_abs = o.max_abs, worst_out_case = name;
    worst_out_cos = std::max(worst_out_cos, o.cos_diff);
    if (l.max_abs > worst_lse_abs) worst_lse_abs = l.max_abs, worst_lse_case = name;
  }
} g_stats;

class SummaryEnv : public ::testing::Environment {
 public:
  void TearDown() override {
    if (g_stats.cases == 0) return;
    char line[512];
    std::snprintf(line, sizeof line,
                  "gpu_matrix: %d cases; worst |out - ref| %.3g (%s); worst out cos_diff %.3g; worst |lse - ref| %.3g (%s)\n",
                  g_stats.cases, g_stats.worst_out_abs, g_stats.worst_out_case.c_str(), g_stats.worst_out_cos,
                  g_stats.worst_lse_abs, g_stats.worst_lse_case.c_str());
    std::fputs(line, stdout);
    if (const char* path = std::getenv("FLASHMLA_GPU_SUMMARY")) {
      std::ofstream f(path, std::ios::app);
      f << line;
    }
  }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new SummaryEnv);

// Runs one case on the GPU (fresh schedule) and compares with the CPU backend.
void run_and_compare(HostCase& hc, int32_t parts = 0, const std::string& what = "") {
  ASSERT_EQ(cpu_reference(hc), "");
  DeviceCase dc;
  ASSERT_EQ(upload(hc, &dc, parts), "");
  ASSERT_TRUE(compute_schedule(schedule_args(hc, dc)).ok());
  poison_device_outputs(dc);
  Status st = decode(dc.args);
  ASSERT_TRUE(st.ok()) << st.message();
  CUDA_OK(cudaStreamSynchronize(nullptr));
  CUDA_OK(cudaGetLastError());
  GpuResult g = download(dc);
  const CaseDims& d = hc.dims;
  CompareResult co = compare_out(g.out.data(), hc.out.data(), hc.out.size(), hc.spec.dtype, {d.batch, d.s_q, d.h_q, kDV});
  CompareResult cl = compare_lse(g.lse.data(), hc.lse.data(), hc.lse.size(), {d.batch, d.h_q, d.s_q});
  EXPECT_TRUE(co.ok) << hc.spec.name << what << " out: " << co.message;
  EXPECT_TRUE(cl.ok) << hc.spec.name << what << " lse: " << cl.message;
  g_stats.add(hc.spec.name + what, co, cl);
}

class GpuMatrix : public ::testing::TestWithParam<CaseSpec> {};

TEST_P(GpuMatrix, MatchesCpuBackend) {
  FLASHMLA_REQUIRE_HOPPER();
  HostCase hc = make_case(GetParam());
  run_and_compare(hc);
}

INSTANTIATE_TEST_SUITE_P(Cases, GpuMatrix, ::testing::ValuesIn(case_set("gpu_matrix")),
                         [](const ::testing::TestParamInfo<CaseSpec>& i) { return i.param.name; });

// The same batch under every kind of partitioning: one partition (no split), a few (long splits),
// the library's choice, and more partitions than pages (empty partitions, one-page splits).
TEST(GpuDecode, EveryPartitionCountMatches) {
  FLASHMLA_REQUIRE_HOPPER();
  for (int32_t parts : {1, 2, 7, 33, 132, 500}) {
    HostCase hc = make_case(varlen_case(5, 2, 32, 1, 700, true, DType::kBF16, 1));
    run_and_compare(hc, parts, " parts=" + std::to_string(parts));
  }
}

// Strided views: q and k_cache rows padded (head/row strides > 576), out head stride padded.
TEST(GpuDecode, StridedViews) {
  FLASHMLA_REQUIRE_HOPPER();
  for (DType dt : {DType::kBF16, DType::kFP16}) {
    HostCase hc = make_case(varlen_case(3, 2, 16, 2, 300, true, dt, 1));
    ASSERT_EQ(cpu_reference(hc), "");
    DeviceCase dc;
    ASSERT_EQ(upload(hc, &dc), "");
    const CaseDims& d = hc.dims;
    constexpr int64_t kQPad = 640, kKPad = 648, kOPad = 520;  // elements per row; multiples of 8 (16 B)
    DeviceBuffer q2(int64_t{d.batch} * d.s_q * d.h_q * kQPad * 2), k2(int64_t{d.num_blocks} * kPage * d.h_kv * kKPad * 2),
        o2(int64_t{d.batch} * d.s_q * d.h_q * kOPad * 2);
    CUDA_OK(cudaMemcpy2D(q2.ptr, kQPad * 2, dc.q.ptr, kD * 2, kD * 2, int64_t{d.batch} * d.s_q * d.h_q, cudaMemcpyDeviceToDevice));
    CUDA_OK(cudaMemcpy2D(k2.ptr, kKPad * 2, dc.k_cache.ptr, kD * 2, kD * 2, int64_t{d.num_blocks} * kPage * d.h_kv,
                         cudaMemcpyDeviceToDevice));
    DecodeArgs a = dc.args;
    a.q.data = q2.ptr;
    a.q.stride[2] = kQPad;
    a.q.stride[1] = kQPad * d.h_q;
    a.q.stride[0] = kQPad * d.h_q * d.s_q;
    a.k_cache.data = k2.ptr;
    a.k_cache.stride[2] = kKPad;
    a.k_cache.stride[1] = kKPad * d.h_kv;
    a.k_cache.stride[0] = kKPad * d.h_kv * kPage;
    a.out.data = o2.ptr;
    a.out.stride[2] = kOPad;
    a.out.stride[1] = kOPad * d.h_q;
    a.out.stride[0] = kOPad * d.h_q * d.s_q;
    ASSERT_TRUE(compute_schedule(schedule_args(hc, dc)).ok());
    CUDA_OK(cudaMemset(o2.ptr, 0xFF, o2.bytes));
    poison_device_outputs(dc);
    Status st = decode(a);
    ASSERT_TRUE(st.ok()) << st.message();
    CUDA_OK(cudaDeviceSynchronize());
    GpuResult g = download(dc);
    CUDA_OK(cudaMemcpy2D(g.out.data(), kDV * 2, o2.ptr, kOPad * 2, kDV * 2, int64_t{d.batch} * d.s_q * d.h_q, cudaMemcpyDeviceToHost));
    expect_matches(hc, g, " (strided)");
  }
}

// A layer loop: one schedule, several decodes with different queries (the schedule only depends on
// the lengths).
TEST(GpuDecode, ScheduleReusedAcrossLayers) {
  FLASHMLA_REQUIRE_HOPPER();
  CaseSpec spec = varlen_case(8, 1, 128, 1, 1000, false, DType::kBF16, 1);
  HostCase hc = make_case(spec);
  DeviceCase dc;
  ASSERT_EQ(upload(hc, &dc), "");
  ASSERT_TRUE(compute_schedule(schedule_args(hc, dc)).ok());
  for (int layer = 0; layer < 3; ++layer) {
    CaseSpec s2 = spec;
    s2.seed = spec.seed + 1000 + layer;
    HostCase other = make_case(s2);  // same lengths, new q
    std::copy(hc.k_cache.begin(), hc.k_cache.end(), other.k_cache.begin());
    other.block_table = hc.block_table;
    ASSERT_EQ(cpu_reference(other), "");
    CUDA_OK(cudaMemcpy(dc.q.ptr, other.q.data(), other.q.size() * 2, cudaMemcpyHostToDevice));
    poison_device_outputs(dc);
    ASSERT_TRUE(decode(dc.args).ok());
    expect_matches(other, download(dc), " layer " + std::to_string(layer));
  }
}

// Invalid lengths on the device cannot be reported without a host sync: the kernels then write
// nothing at all (every output keeps its poison) and never read outside the caller's tensors.
TEST(GpuDecode, InvalidLengthsWriteNothing) {
  FLASHMLA_REQUIRE_HOPPER();
  for (int32_t bad : {-5, 64 * 100}) {  // negative; more pages than the block table holds
    HostCase hc = make_case(list_case({100, 200, 300}, 1, 16, 1, false, DType::kBF16));
    DeviceCase dc;
    ASSERT_EQ(upload(hc, &dc), "");
    ASSERT_TRUE(compute_schedule(schedule_args(hc, dc)).ok());
    CUDA_OK(cudaMemcpy(dc.seqlens.as<int32_t>() + 1, &bad, 4, cudaMemcpyHostToDevice));
    poison_device_outputs(dc);
    ASSERT_TRUE(decode(dc.args).ok());
    CUDA_OK(cudaDeviceSynchronize());
    GpuResult g = download(dc);
    for (uint16_t v : g.out) ASSERT_EQ(v, 0xFFFF) << "an output was written for seqlen " << bad;
    for (float v : g.lse) {
      uint32_t u;
      std::memcpy(&u, &v, 4);
      ASSERT_EQ(u, 0xFFFFFFFFu) << "an lse was written for seqlen " << bad;
    }
  }
}

// Debug mode catches what the hot path cannot check; without it a bad page id is still memory-safe.
TEST(GpuDecode, DebugChecksReportBadPageIds) {
  FLASHMLA_REQUIRE_HOPPER();
  HostCase hc = make_case(list_case({100, 200}, 1, 16, 1, false, DType::kBF16));
  DeviceCase dc;
  ASSERT_EQ(upload(hc, &dc), "");
  ASSERT_TRUE(compute_schedule(schedule_args(hc, dc)).ok());
  const int32_t bad_page = hc.dims.num_blocks + 7;
  CUDA_OK(cudaMemcpy(dc.block_table.as<int32_t>() + hc.dims.max_blocks + 1, &bad_page, 4, cudaMemcpyHostToDevice));
  DecodeArgs a = dc.args;
  a.debug_checks = true;
  Status st = decode(a);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("block_table[1][1]"), std::string::npos) << st.message();
  a.debug_checks = false;
  EXPECT_TRUE(decode(a).ok());
  CUDA_OK(cudaDeviceSynchronize());  // the out-of-range page is zero-filled by TMA: no fault
}

}  // namespace
}  // namespace flashmla::test
