// GPU tests of the sm90 sparse FP8 decode: every case runs on the device and on the CPU oracle
// (itself checked against a naive reference in test_sparse_decode.cpp) and must agree within
//   out: |d| < 1e-3 or |d| / |ref| < 2.01 / 128 per element, cosine distance <= 5e-6;
//   lse: |d| < 1e-6 or |d| / |ref| < 8.01 / 65536; identical inf positions (+inf = row saw nothing).
// Outputs are NaN-poisoned before each run; every cache byte no counted index selects is 0xff (NaN in
// every field). Skipped without an sm_90 GPU. A failure prints the case, the worst error and the first
// bad element.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <string>
#include <vector>

#include "common/numerics.h"
#include "compare.h"
#include "flashmla/sparse_decode.h"
#include "sparse_decode_cases.h"

namespace flashmla::test {
namespace {

constexpr Tolerance kSparseOutTol{1e-3, 2.01 / 128, 5e-6};
constexpr Tolerance kSparseLseTol{1e-6, 8.01 / 65536, -1.0};

bool have_sm90() {
  static const bool ok = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
      (void)cudaGetLastError();
      return false;
    }
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return false;
    return prop.major == 9 && prop.minor == 0;
  }();
  return ok;
}
#define SPARSE_REQUIRE_SM90() \
  if (!have_sm90()) GTEST_SKIP() << "no sm_90 (Hopper) GPU on this machine"

struct DevBuf {
  void* p = nullptr;
  DevBuf() = default;
  DevBuf(const void* host, size_t bytes) {
    if (bytes == 0 || host == nullptr) return;
    if (cudaMalloc(&p, bytes) != cudaSuccess) { p = nullptr; return; }
    cudaMemcpy(p, host, bytes, cudaMemcpyHostToDevice);
  }
  ~DevBuf() { if (p) cudaFree(p); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
};

template <class T>
size_t bytes_of(const std::vector<T>& v) { return v.size() * sizeof(T); }

// Device copies of every buffer of a host case (same layouts).
struct DeviceCopies {
  DevBuf q, cache, ind, tl, ecache, eind, etl, sink, out, lse;
  explicit DeviceCopies(const SparseHostCase& c)
      : q(c.q.data(), bytes_of(c.q)), cache(c.main.cache.data(), bytes_of(c.main.cache)),
        ind(c.main.indices.data(), bytes_of(c.main.indices)),
        tl(c.main.topk_length.data(), bytes_of(c.main.topk_length)), ecache(c.extra.cache.data(), bytes_of(c.extra.cache)),
        eind(c.extra.indices.data(), bytes_of(c.extra.indices)),
        etl(c.extra.topk_length.data(), bytes_of(c.extra.topk_length)), sink(c.sink.data(), bytes_of(c.sink)),
        out(c.out.data(), bytes_of(c.out)), lse(c.lse.data(), bytes_of(c.lse)) {}
  SparsePointers pointers() const {
    SparsePointers p;
    p.q = q.p;
    p.cache = cache.p;
    p.indices = ind.p;
    p.topk_length = tl.p;
    p.extra_cache = ecache.p;
    p.extra_indices = eind.p;
    p.extra_topk_length = etl.p;
    p.sink = sink.p;
    p.out = out.p;
    p.lse = lse.p;
    return p;
  }
};

// Runs the case on the GPU and the CPU oracle; compares. debug: pass debug_checks = true.
void run_case(const SparseCaseSpec& spec_in, bool debug = false) {
  const SparseCaseSpec spec = spec_in.name.empty() ? finish(spec_in) : spec_in;
  SparseHostCase c = make_sparse_case(spec);
  // CPU oracle.
  SparseDecodeArgs ha = make_sparse_args(c, host_pointers(c));
  const Status hs = sparse_decode(ha);
  ASSERT_TRUE(hs.ok()) << spec.name << " (cpu): " << hs.message();
  const std::vector<uint16_t> ref_out = c.out;
  const std::vector<float> ref_lse = c.lse;
  poison(c);
  // Device.
  DeviceCopies dc(c);
  SparsePointers dp = dc.pointers();
  DevBuf &out = dc.out, &lse = dc.lse;
  SparseDecodeArgs da = make_sparse_args(c, dp, DeviceType::kCUDA, 0);
  da.debug_checks = debug;
  const Status ds = sparse_decode(da);
  ASSERT_TRUE(ds.ok()) << spec.name << " (sm90): " << ds.message();
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << spec.name << ": " << cudaGetErrorString(cudaGetLastError());
  ASSERT_EQ(cudaMemcpy(c.out.data(), out.p, bytes_of(c.out), cudaMemcpyDeviceToHost), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(c.lse.data(), lse.p, bytes_of(c.lse), cudaMemcpyDeviceToHost), cudaSuccess);
  std::vector<float> got(c.out.size()), ref(c.out.size());
  for (size_t i = 0; i < got.size(); ++i) {
    got[i] = numerics::bf16_to_float(c.out[i]);
    ref[i] = numerics::bf16_to_float(ref_out[i]);
  }
  const auto ro = compare_float(got.data(), ref.data(), got.size(), kSparseOutTol, {spec.batch, spec.s_q, spec.h_q, 512},
                                "out");
  EXPECT_TRUE(ro.ok) << spec.name << ": " << ro.message << " (max_abs " << ro.max_abs << ", cos_diff " << ro.cos_diff
                     << ", first bad " << ro.first_bad << ")";
  const auto rl = compare_float(c.lse.data(), ref_lse.data(), c.lse.size(), kSparseLseTol,
                                {spec.batch, spec.h_q, spec.s_q}, "lse");
  EXPECT_TRUE(rl.ok) << spec.name << ": " << rl.message << " (first bad " << rl.first_bad << ")";
}

SparseCaseSpec spec(KvFormat f, int32_t b, int32_t s_q, int32_t h, int32_t topk, int32_t page) {
  return sparse_spec(f, b, s_q, h, topk, page);
}

// The named matrix: both formats x heads x topk x pages x s_q, then feature cases.
std::vector<SparseCaseSpec> gpu_cases() {
  std::vector<SparseCaseSpec> v;
  for (KvFormat f : {KvFormat::kSparseV32, KvFormat::kSparseModel1}) {
    for (int h : {1, 8, 16, 32, 64, 128}) v.push_back(finish(spec(f, 2, 2, h, 64, 64)));
    for (int topk : {1, 7, 64, 2048}) v.push_back(finish(spec(f, 2, 1, 128, topk, 64)));
    for (int page : {1, 2, 53, 64, 69, 256}) v.push_back(finish(spec(f, 3, 2, 16, 100, page)));
    // Page strides + 8 B: only 8-aligned (8-byte gathers) except MODEL1 page 53, whose padded stride
    // 53 * 584 + 8 is 16-aligned again (16-byte gathers of an odd page).
    for (int page : {2, 53, 64}) {
      auto s = spec(f, 2, 2, 16, 100, page);
      s.page_pad = 8;
      v.push_back(finish(s));
    }
    {
      auto s = spec(f, 4, 1, 64, 64, 64);
      s.garbage = true;
      v.push_back(finish(s));
    }
    {
      auto s = spec(f, 3, 2, 32, 200, 64);
      s.all_invalid = true;
      s.topk_length = true;  // request 1 has length 0
      v.push_back(finish(s));
    }
    for (SinkKind k : {SinkKind::kRandom, SinkKind::kPosInf, SinkKind::kNegInf}) {
      auto s = spec(f, 2, 2, 64, 64, 64);
      s.sink = k;
      v.push_back(finish(s));
    }
    {
      auto s = spec(f, 2, 2, 24, 77, 53);
      s.strided = true;
      s.softmax_scale = 0.05f;
      v.push_back(finish(s));
    }
    for (int h : {16, 64, 128}) {
      auto s = spec(f, 3, 2, h, 128, 64);
      s.extra_topk = 100;
      s.extra_page_size = 2;
      s.topk_length = true;
      s.garbage = true;
      v.push_back(finish(s));
    }
    {
      auto s = spec(f, 2, 2, 128, 2048, 64);
      s.extra_topk = 512;
      s.extra_page_size = 69;
      s.sink = SinkKind::kRandom;
      v.push_back(finish(s));
    }
  }
  return v;
}

class SparseGpu : public ::testing::TestWithParam<SparseCaseSpec> {};
TEST_P(SparseGpu, MatchesCpuOracle) {
  SPARSE_REQUIRE_SM90();
  run_case(GetParam());
}
INSTANTIATE_TEST_SUITE_P(Cases, SparseGpu, ::testing::ValuesIn(gpu_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(SparseGpuEdge, SqAbove65535) {
  SPARSE_REQUIRE_SM90();
  auto s = spec(KvFormat::kSparseV32, 1, 70000, 1, 3, 64);
  run_case(finish(s));
}

// Page strides that are not a multiple of 8 bytes are rejected (the kernel's smallest gather is 8 B).
TEST(SparseGpuEdge, RejectsPageStrideNotMultipleOf8) {
  SPARSE_REQUIRE_SM90();
  for (KvFormat f : {KvFormat::kSparseV32, KvFormat::kSparseModel1}) {
    auto s = spec(f, 1, 1, 16, 16, 3);
    s.page_pad = 4;
    s = finish(s);
    SparseHostCase c = make_sparse_case(s);
    DeviceCopies dc(c);
    const Status st = sparse_decode(make_sparse_args(c, dc.pointers(), DeviceType::kCUDA, 0));
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << s.name << ": " << st.message();
    EXPECT_NE(st.message().find("k_cache.stride[0]: expected a multiple of 8 bytes"), std::string::npos)
        << s.name << ": " << st.message();
  }
}

TEST(SparseGpuEdge, DebugModePassesValidIndices) {
  SPARSE_REQUIRE_SM90();
  auto s = spec(KvFormat::kSparseModel1, 2, 2, 16, 64, 64);
  run_case(finish(s), /*debug=*/true);
}

TEST(SparseGpuEdge, DebugModeReportsGarbage) {
  SPARSE_REQUIRE_SM90();
  auto s = finish(spec(KvFormat::kSparseV32, 2, 1, 16, 64, 64));
  s.holes = false;
  SparseHostCase c = make_sparse_case(s);
  c.main.indices[5] = INT_MIN;
  DeviceCopies dc(c);
  SparseDecodeArgs a = make_sparse_args(c, dc.pointers(), DeviceType::kCUDA, 0);
  a.debug_checks = true;
  const Status st = sparse_decode(a);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.message();
  EXPECT_NE(st.message().find("indices[0][0][5]"), std::string::npos) << st.message();
}


// Benchmark (not run by default): FLASHMLA_SD_BENCH=1 ./flashmla_gpu_sparse_decode_tests --gtest_filter='*Bench*'.
// Times DeepSeek's sparse decode shapes (s_q 2, no holes) with CUDA events around back-to-back calls;
// FLOP = 2 * h_q * attended tokens * (d_qk + 512). The generated pools hold at most 16k tokens per pool,
// so the gathers hit L2 more than a production cache would: treat these as upper bounds of speed.
TEST(SparseGpuBench, DeepSeekShapes) {
  SPARSE_REQUIRE_SM90();
  if (!std::getenv("FLASHMLA_SD_BENCH")) GTEST_SKIP() << "set FLASHMLA_SD_BENCH=1 to run the benchmark";
  struct Shape {
    KvFormat f;
    int32_t b, s_q, h, topk, extra_topk, extra_page;
  };
  const Shape shapes[] = {
      {KvFormat::kSparseV32, 2, 2, 128, 2048, 0, 64},     {KvFormat::kSparseV32, 64, 2, 128, 2048, 0, 64},
      {KvFormat::kSparseV32, 128, 2, 128, 2048, 0, 64},   {KvFormat::kSparseV32, 128, 2, 64, 2048, 0, 64},
      {KvFormat::kSparseV32, 128, 2, 32, 2048, 0, 64},    {KvFormat::kSparseV32, 128, 2, 16, 2048, 0, 64},
      {KvFormat::kSparseModel1, 128, 2, 64, 128, 512, 64}, {KvFormat::kSparseModel1, 128, 2, 128, 128, 1024, 64},
  };
  for (const Shape& sh : shapes) {
    SparseCaseSpec sp = spec(sh.f, sh.b, sh.s_q, sh.h, sh.topk, 64);
    sp.holes = false;
    sp.extra_topk = sh.extra_topk;
    sp.extra_page_size = sh.extra_page;
    sp = finish(sp);
    SparseHostCase c = make_sparse_case(sp);
    DeviceCopies dc(c);
    SparseDecodeArgs a = make_sparse_args(c, dc.pointers(), DeviceType::kCUDA, 0);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(sparse_decode(a).ok());
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    constexpr int kIters = 20;
    cudaEventRecord(e0);
    for (int i = 0; i < kIters; ++i) sparse_decode(a);
    cudaEventRecord(e1);
    ASSERT_EQ(cudaEventSynchronize(e1), cudaSuccess);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    const double us = ms * 1e3 / kIters;
    const double d_qk = sh.f == KvFormat::kSparseV32 ? 576 : 512;
    const double flop = 2.0 * sh.h * double(sh.b) * sh.s_q * (sh.topk + sh.extra_topk) * (d_qk + 512);
    std::printf("[ BENCH    ] {\"case\": \"%s\", \"us\": %.1f, \"tflops\": %.1f}\n", sp.name.c_str(), us,
                flop / us * 1e-6);
  }
}

}  // namespace
}  // namespace flashmla::test
