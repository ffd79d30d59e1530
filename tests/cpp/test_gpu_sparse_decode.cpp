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
#include <cstring>
#include <string>
#include <vector>

#include "common/kv_format.h"
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

// An uninitialised device allocation, filled with 0xff (NaN in every fp32 / bf16 field, -1 as int32):
// the kernels must not rely on the workspace's contents.
struct DevScratch {
  void* p = nullptr;
  size_t bytes = 0;
  explicit DevScratch(size_t n) : bytes(n) {
    if (n == 0) return;
    if (cudaMalloc(&p, n) != cudaSuccess) { p = nullptr; bytes = 0; return; }
    cudaMemset(p, 0xff, n);
  }
  ~DevScratch() { if (p) cudaFree(p); }
  DevScratch(const DevScratch&) = delete;
  DevScratch& operator=(const DevScratch&) = delete;
};

size_t workspace_for(const SparseCaseSpec& s, int32_t num_splits) {
  return sparse_decode_workspace_size(s.batch, s.s_q, s.h_q, s.topk, s.extra_topk, num_splits);
}

// The CPU oracle's out / lse of a host case (its outputs are then poisoned again).
struct Reference {
  std::vector<uint16_t> out;
  std::vector<float> lse;
};
::testing::AssertionResult oracle(SparseHostCase& c, Reference* ref) {
  const Status hs = sparse_decode(make_sparse_args(c, host_pointers(c)));
  if (!hs.ok()) return ::testing::AssertionFailure() << c.spec.name << " (cpu): " << hs.message();
  ref->out = c.out;
  ref->lse = c.lse;
  poison(c);
  return ::testing::AssertionSuccess();
}

// Copies the device's out / lse into c and compares them with the oracle's.
void compare_with(const std::string& what, SparseHostCase& c, const DeviceCopies& dc, const Reference& r) {
  const SparseCaseSpec& spec = c.spec;
  ASSERT_EQ(cudaMemcpy(c.out.data(), dc.out.p, bytes_of(c.out), cudaMemcpyDeviceToHost), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(c.lse.data(), dc.lse.p, bytes_of(c.lse), cudaMemcpyDeviceToHost), cudaSuccess);
  std::vector<float> got(c.out.size()), ref(c.out.size());
  for (size_t i = 0; i < got.size(); ++i) {
    got[i] = numerics::bf16_to_float(c.out[i]);
    ref[i] = numerics::bf16_to_float(r.out[i]);
  }
  const auto ro = compare_float(got.data(), ref.data(), got.size(), kSparseOutTol, {spec.batch, spec.s_q, spec.h_q, 512},
                                "out");
  EXPECT_TRUE(ro.ok) << what << ": " << ro.message << " (max_abs " << ro.max_abs << ", cos_diff " << ro.cos_diff
                     << ", first bad " << ro.first_bad << ")";
  const auto rl = compare_float(c.lse.data(), r.lse.data(), c.lse.size(), kSparseLseTol,
                                {spec.batch, spec.h_q, spec.s_q}, "lse");
  EXPECT_TRUE(rl.ok) << what << ": " << rl.message << " (first bad " << rl.first_bad << ")";
}

// The host case `c` (built from spec, possibly edited since) on the GPU and the CPU oracle; compares.
// debug: pass debug_checks = true. num_splits: SparseDecodeArgs::num_splits (0: the automatic plan). The
// workspace is sized by sparse_decode_workspace_size() and NaN-filled.
void run_host_case(const std::string& what, SparseHostCase& c, const SparseCaseSpec& spec, bool debug,
                   int32_t num_splits) {
  Reference ref;
  ASSERT_TRUE(oracle(c, &ref));
  // Device.
  DeviceCopies dc(c);
  DevScratch ws(workspace_for(spec, num_splits));
  SparseDecodeArgs da = make_sparse_args(c, dc.pointers(), DeviceType::kCUDA, 0);
  da.debug_checks = debug;
  da.num_splits = num_splits;
  da.workspace = ws.p;
  da.workspace_bytes = ws.bytes;
  const Status ds = sparse_decode(da);
  ASSERT_TRUE(ds.ok()) << what << " (sm90): " << ds.message();
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << what << ": " << cudaGetErrorString(cudaGetLastError());
  compare_with(what, c, dc, ref);
}

// The same for a case built from its spec.
void run_case(const SparseCaseSpec& spec_in, bool debug = false, int32_t num_splits = 0) {
  const SparseCaseSpec spec = spec_in.name.empty() ? finish(spec_in) : spec_in;
  const std::string what = spec.name + (num_splits ? "_n" + std::to_string(num_splits) : "_nauto");
  SparseHostCase c = make_sparse_case(spec);
  run_host_case(what, c, spec, debug, num_splits);
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
    // h_q 65 .. 128: two head blocks per token (the second one partly empty; session 11's 2-CTA pair
    // kernel was tested on these and not kept): odd head counts, a partial last block, 8-byte (narrow)
    // pages, strides, masked and all-invalid rows.
    for (int h : {65, 100, 127}) v.push_back(finish(spec(f, 2, 2, h, 200, 64)));
    {
      auto s = spec(f, 2, 2, 96, 300, 53);
      s.page_pad = 8;
      s.garbage = true;
      v.push_back(finish(s));
    }
    {
      auto s = spec(f, 2, 2, 100, 777, 69);
      s.strided = true;
      s.topk_length = true;
      s.sink = SinkKind::kRandom;
      v.push_back(finish(s));
    }
    {
      auto s = spec(f, 3, 2, 128, 500, 64);
      s.all_invalid = true;
      s.topk_length = true;
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

// ---- split of the top-k list across CTAs (split_plan.h) -------------------------------------------------
// Each case runs with the automatic plan (these shapes have fewer CTAs than SMs: it splits) and with forced
// counts, 1 (the unsplit kernel on the same data) included, so that both paths meet the same oracle.

struct SplitCase {
  SparseCaseSpec spec;
  int32_t num_splits;  // 0: automatic
  std::string name;
};

std::vector<SplitCase> split_cases() {
  std::vector<SplitCase> v;
  auto add = [&v](SparseCaseSpec s, std::initializer_list<int32_t> ns) {
    s = finish(s);
    for (int32_t n : ns) v.push_back({s, n, s.name + (n ? "_n" + std::to_string(n) : "_nauto")});
  };
  for (KvFormat f : {KvFormat::kSparseV32, KvFormat::kSparseModel1}) {
    // Small batch, long list: b 1 / 2 with h_q 128 (2 / 4 CTAs): 16 splits of 2 blocks; forced 1 .. 1000
    // (clamped to the 32 blocks: one block a split).
    add(spec(f, 1, 1, 128, 2048, 64), {0, 1, 2, 3, 7, 32, 1000});
    add(spec(f, 2, 2, 128, 2048, 64), {0, 1});
    add(spec(f, 1, 1, 1, 2048, 64), {0, 5});  // h_q 1: 63 zero rows per CTA
    add(spec(f, 1, 2, 100, 1000, 64), {0, 1, 5});  // two head blocks per (token, split)
    // topk_length: request 0 the whole list, request 1 nothing (every split empty), request 2 a random
    // prefix shorter than some split ranges (ranges of 0 or 1 blocks).
    {
      auto s = spec(f, 3, 1, 16, 2048, 64);
      s.topk_length = true;
      add(s, {0, 1, 9, 64});
    }
    // A topk that is not a multiple of 64 and fewer blocks than splits (forced 8 over 3 blocks: clamped).
    add(spec(f, 2, 1, 64, 150, 64), {0, 2, 8});
    // Request 0 entirely masked (-1, garbage, past topk_length): all of its splits see nothing.
    {
      auto s = spec(f, 2, 2, 32, 1024, 64);
      s.all_invalid = true;
      s.garbage = true;
      add(s, {0, 1, 4});
    }
    // Sinks applied once, on the merged lse: random, +inf (out 0), -inf (no effect); with empty rows.
    for (SinkKind k : {SinkKind::kRandom, SinkKind::kPosInf, SinkKind::kNegInf}) {
      auto s = spec(f, 2, 2, 64, 512, 64);
      s.sink = k;
      s.topk_length = true;
      add(s, {0, 1, 3});
    }
    // Extra cache: splits straddle the main / extra boundary (2 + 8 blocks; n 3 -> [0,3) [3,6) [6,10));
    // extra page 53 is only 8-aligned for MODEL1 (8-byte gathers in the same CTA as 16-byte ones).
    {
      auto s = spec(f, 2, 1, 128, 128, 64);
      s.extra_topk = 500;
      s.extra_page_size = 53;
      s.topk_length = true;
      s.garbage = true;
      s.sink = SinkKind::kRandom;
      add(s, {0, 1, 2, 3, 5});
    }
    // Strided q / indices / pages (page stride + 48 B), odd h_q and page size, a custom scale.
    {
      auto s = spec(f, 1, 2, 24, 777, 53);
      s.strided = true;
      s.softmax_scale = 0.05f;
      add(s, {0, 1, 6});
    }
  }
  return v;
}

class SparseGpuSplit : public ::testing::TestWithParam<SplitCase> {};
TEST_P(SparseGpuSplit, MatchesCpuOracle) {
  SPARSE_REQUIRE_SM90();
  run_case(GetParam().spec, false, GetParam().num_splits);
}
INSTANTIATE_TEST_SUITE_P(Cases, SparseGpuSplit, ::testing::ValuesIn(split_cases()),
                         [](const auto& info) { return info.param.name; });

// The automatic plan does split these shapes (else the cases above would not test the split path).
TEST(SparseGpuSplitEdge, PlanSplitsSmallBatches) {
  EXPECT_GT(sparse_decode_workspace_size(1, 1, 128, 2048, 0), 0u);
  EXPECT_GT(sparse_decode_workspace_size(2, 2, 128, 2048, 0), 0u);
  EXPECT_GT(sparse_decode_workspace_size(3, 1, 16, 2048, 0), 0u);
  EXPECT_GT(sparse_decode_workspace_size(2, 1, 128, 128, 500), 0u);
  EXPECT_EQ(sparse_decode_workspace_size(128, 2, 128, 2048, 0), 0u);  // the grid is full: unsplit
}

// A split launch without (enough, aligned) workspace is an error naming the workspace; nothing is written.
TEST(SparseGpuSplitEdge, RequiresWorkspace) {
  SPARSE_REQUIRE_SM90();
  auto s = finish(spec(KvFormat::kSparseV32, 1, 1, 128, 2048, 64));
  SparseHostCase c = make_sparse_case(s);
  DeviceCopies dc(c);
  const size_t need = workspace_for(s, 0);
  ASSERT_GT(need, 0u);
  DevScratch ws(need + 16);
  SparseDecodeArgs a = make_sparse_args(c, dc.pointers(), DeviceType::kCUDA, 0);
  Status st = sparse_decode(a);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.message();
  EXPECT_NE(st.message().find("workspace: expected "), std::string::npos) << st.message();
  a.workspace = ws.p;
  a.workspace_bytes = need - 1;
  st = sparse_decode(a);
  EXPECT_NE(st.message().find("(sparse_decode_workspace_size)"), std::string::npos) << st.message();
  a.workspace = static_cast<uint8_t*>(ws.p) + 4;
  a.workspace_bytes = need;
  st = sparse_decode(a);
  EXPECT_NE(st.message().find("workspace: expected a 16-byte aligned address"), std::string::npos) << st.message();
  // A workspace overlapping q (and nothing else: both inside one allocation): the split kernel would
  // write its own input.
  DevScratch shared(need + 4096);
  SparseDecodeArgs alias = a;
  alias.q.data = shared.p;
  alias.workspace = static_cast<uint8_t*>(shared.p) + 1024;
  alias.workspace_bytes = need;
  st = sparse_decode(alias);
  EXPECT_NE(st.message().find("workspace: expected memory disjoint from q"), std::string::npos) << st.message();
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<float> lse(c.lse.size());
  ASSERT_EQ(cudaMemcpy(lse.data(), dc.lse.p, bytes_of(lse), cudaMemcpyDeviceToHost), cudaSuccess);
  for (float l : lse) ASSERT_TRUE(std::isnan(l)) << "lse written by a rejected call";
  // Forced splits with more combine rows than its grid allows are rejected too.
  a.workspace = ws.p;
  a.num_splits = 2;
  auto big = finish(spec(KvFormat::kSparseV32, 1, 1100, 64, 128, 64));
  SparseHostCase cb = make_sparse_case(big);
  DeviceCopies db(cb);
  SparseDecodeArgs ab = make_sparse_args(cb, db.pointers(), DeviceType::kCUDA, 0);
  ab.num_splits = 2;
  st = sparse_decode(ab);
  EXPECT_NE(st.message().find("num_splits: expected 0 or 1 when s_q * h_q > 65535"), std::string::npos)
      << st.message();
}

// CUDA graph: sparse_decode (split kernel + combine) captured once, then the contents of q, the caches,
// the indices, topk_length and the sinks replaced in place by another case of the same shapes, and the
// graph replayed: the result follows the new contents (the plan depends on shapes only, the ranges on
// topk_length read on the device). Every input buffer is replaced: the oracle of the second contents
// uses all of b, so one left stale would be compared against data the device never saw.
void graph_case(SparseCaseSpec s, int32_t num_splits) {
  s = finish(s);
  SparseCaseSpec s2 = s;
  s2.seed = s.seed ^ 0x9e3779b97f4a7c15ull;
  SparseHostCase a = make_sparse_case(s), b = make_sparse_case(s2);
  ASSERT_EQ(a.main.cache.size(), b.main.cache.size());
  ASSERT_EQ(a.main.indices.size(), b.main.indices.size());
  ASSERT_EQ(a.extra.cache.size(), b.extra.cache.size());
  ASSERT_EQ(a.sink.size(), b.sink.size());
  ASSERT_NE(a.main.indices, b.main.indices) << "the second case must differ";
  if (s.sink == SinkKind::kRandom) {
    ASSERT_NE(a.sink, b.sink) << "the second case's sinks must differ";
  }
  Reference ra, rb;
  ASSERT_TRUE(oracle(a, &ra));
  ASSERT_TRUE(oracle(b, &rb));
  DeviceCopies dc(a);
  const size_t need = workspace_for(s, num_splits);
  if (num_splits != 1) ASSERT_GT(need, 0u) << s.name << ": the graph must capture the split path";
  DevScratch ws(need);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  SparseDecodeArgs args = make_sparse_args(a, dc.pointers(), DeviceType::kCUDA, 0);
  args.workspace = ws.p;
  args.workspace_bytes = ws.bytes;
  args.num_splits = num_splits;
  args.stream = stream;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  const Status st = sparse_decode(args);
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  compare_with(s.name + " graph, first contents", a, dc, ra);
  // New contents, same buffers; outputs NaN again.
  auto put = [](const DevBuf& d, const auto& host) {
    if (!host.empty()) ASSERT_EQ(cudaMemcpy(d.p, host.data(), bytes_of(host), cudaMemcpyHostToDevice), cudaSuccess);
  };
  put(dc.q, b.q);
  put(dc.cache, b.main.cache);
  put(dc.ind, b.main.indices);
  put(dc.tl, b.main.topk_length);
  put(dc.ecache, b.extra.cache);
  put(dc.eind, b.extra.indices);
  put(dc.etl, b.extra.topk_length);
  put(dc.sink, b.sink);
  put(dc.out, b.out);
  put(dc.lse, b.lse);
  for (int rep = 0; rep < 2; ++rep) {
    ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
    ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    compare_with(s.name + " graph, second contents, replay " + std::to_string(rep), b, dc, rb);
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

TEST(SparseGpuGraph, ReplayFollowsNewIndicesV32) {
  SPARSE_REQUIRE_SM90();
  auto s = spec(KvFormat::kSparseV32, 3, 2, 64, 1024, 64);
  s.topk_length = true;
  s.sink = SinkKind::kRandom;
  graph_case(s, 0);
  graph_case(s, 1);
}

TEST(SparseGpuGraph, ReplayFollowsNewIndicesModel1Extra) {
  SPARSE_REQUIRE_SM90();
  auto s = spec(KvFormat::kSparseModel1, 2, 1, 128, 128, 64);
  s.extra_topk = 512;
  s.extra_page_size = 53;
  s.topk_length = true;
  graph_case(s, 0);
}

TEST(SparseGpuEdge, SqAbove65535) {
  SPARSE_REQUIRE_SM90();
  auto s = spec(KvFormat::kSparseV32, 1, 70000, 1, 3, 64);
  run_case(finish(s));
}

// Scales outside the quantizer's powers of two, rewritten in every quantized token of the main cache (the
// oracle reads the same bytes): non-powers of two, negative and tiny scales (V32 fp32; MODEL1 e8m0 20 =
// 2^-107) must dequantize exactly as the CPU reference does: bf16(e4m3 * scale), one rounding.
TEST(SparseGpuEdge, ScalesOffThePowerOfTwoRule) {
  SPARSE_REQUIRE_SM90();
  for (KvFormat f : {KvFormat::kSparseV32, KvFormat::kSparseModel1}) {
    for (int32_t num_splits : {1, 0}) {
      const SparseCaseSpec sp = finish(spec(f, 2, 2, 64, 200, 53));
      SparseHostCase c = make_sparse_case(sp);
      HostPool& pool = c.main;
      int64_t changed = 0;
      for (int64_t pg = 0; pg < pool.num_blocks; ++pg) {
        uint8_t* page = pool.cache.data() + pg * pool.page_stride;
        for (int32_t r = 0; r < pool.page_size; ++r) {
          if (f == KvFormat::kSparseV32) {
            uint8_t* sc_bytes = page + kvfmt::V32::data_offset(pool.page_size, r) + kvfmt::V32::kScaleOffset;
            float sc[4];
            std::memcpy(sc, sc_bytes, sizeof(sc));
            if (std::isnan(sc[0])) continue;  // not a quantized token (0xff bytes)
            sc[0] *= 1.37f;       // rounded to bf16 by the kernel and the oracle: 1.3671875
            sc[1] = -sc[1];
            sc[2] *= 0.3f;
            sc[3] *= 0x1p-100f;   // tiny
            std::memcpy(sc_bytes, sc, sizeof(sc));
          } else {
            uint8_t* e = page + kvfmt::Model1::scale_offset(pool.page_size, r);
            if (e[0] == 0xff) continue;
            e[1] = 20;            // 2^-107
          }
          ++changed;
        }
      }
      ASSERT_GT(changed, 0) << sp.name;
      run_host_case(sp.name + "_scales_n" + std::to_string(num_splits), c, sp, /*debug=*/false, num_splits);
    }
  }
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
    DevScratch ws(workspace_for(sp, 0));
    a.workspace = ws.p;
    a.workspace_bytes = ws.bytes;
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
