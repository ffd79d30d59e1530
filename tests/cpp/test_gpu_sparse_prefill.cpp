// Sparse prefill on the GPU against the CPU oracle, on adversarial named cases: invalid-index fillers
// (INT_MIN, -1, s_kv, INT_MAX), NaN in every kv row no valid position references, all-invalid rows,
// topk > s_kv, topk_length 0 / partial / negative / > topk, sinks +-inf, h_q in {1, 3, 16, 64, 100, 128},
// topk in {1, 5, 128, 2048}, d_qk 512 and 576, kv row strides > d_qk, s_q > 65535. Outputs are
// NaN-poisoned before every run. Each failure names the case, the worst error and the first bad element.
//
// Benchmark (not run by default): FLASHMLA_SP_BENCH=1 ./flashmla_sparse_prefill_gpu_tests
//   --gtest_filter='*Bench*' times DeepSeek's prefill shapes (s_q 4096) and checks their first tokens.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "compare.h"
#include "flashmla/flashmla.h"
#include "gpu_harness.h"
#include "sparse_prefill_cases.h"

namespace flashmla::test {
namespace {

constexpr Tolerance kSpOut{8e-4, 3.01 / 128, 7e-6};
constexpr Tolerance kSpStat{1e-6, 2.01 / 65536, -1.0};

template <class T>
DeviceBuffer to_dev(const std::vector<T>& v) {
  DeviceBuffer b(std::max<size_t>(v.size() * sizeof(T), 16));
  if (b.ptr && !v.empty()) cudaMemcpy(b.ptr, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice);
  return b;
}
template <class T>
std::vector<T> from_dev(const DeviceBuffer& b, size_t n) {
  std::vector<T> v(n);
  cudaMemcpy(v.data(), b.ptr, n * sizeof(T), cudaMemcpyDeviceToHost);
  return v;
}

struct DeviceSparse {
  DeviceBuffer q, kv, indices, topk_length, attn_sink, out, max_logits, lse;
  SparsePrefillArgs args;
};

void to_device(const SparsePrefillHost& c, DeviceSparse* d, cudaStream_t stream) {
  d->q = to_dev(c.q);
  d->kv = to_dev(c.kv);
  d->indices = to_dev(c.indices);
  if (!c.topk_length.empty()) d->topk_length = to_dev(c.topk_length);
  if (!c.attn_sink.empty()) d->attn_sink = to_dev(c.attn_sink);
  d->out = DeviceBuffer(c.out.size() * 2);
  d->max_logits = DeviceBuffer(c.max_logits.size() * 4);
  d->lse = DeviceBuffer(c.lse.size() * 4);
  cudaMemsetAsync(d->out.ptr, 0xFF, d->out.bytes, stream);  // NaN everywhere: every element must be written
  cudaMemsetAsync(d->max_logits.ptr, 0xFF, d->max_logits.bytes, stream);
  cudaMemsetAsync(d->lse.ptr, 0xFF, d->lse.bytes, stream);
  SparsePrefillPointers p{d->q.ptr, d->kv.ptr, d->indices.ptr, d->topk_length.ptr, d->attn_sink.ptr,
                          d->out.ptr, d->max_logits.ptr, d->lse.ptr};
  d->args = make_sparse_prefill_args(c, p, DeviceType::kCUDA, 0);
  d->args.stream = reinterpret_cast<Stream>(stream);
}

// GPU vs CPU on the first `rows` query tokens (all when rows < 0).
void expect_matches_cpu(SparsePrefillHost& c, const DeviceSparse& d, int64_t rows = -1) {
  const SparsePrefillSpec& s = c.spec;
  const int64_t n = rows < 0 ? s.s_q : std::min(rows, s.s_q);
  poison_sparse_prefill_outputs(c);
  SparsePrefillArgs host = make_sparse_prefill_args(c, host_pointers(c));
  host.q.shape[0] = host.indices.shape[0] = host.out.shape[0] = host.max_logits.shape[0] = host.lse.shape[0] = n;
  if (host.topk_length.defined()) host.topk_length.shape[0] = n;
  const Status st = sparse_prefill(host);
  ASSERT_TRUE(st.ok()) << s.name << ": CPU oracle: " << st.message();
  const size_t rows_hq = static_cast<size_t>(n * s.h_q);
  const std::vector<uint16_t> out = from_dev<uint16_t>(d.out, rows_hq * 512);
  const std::vector<float> ml = from_dev<float>(d.max_logits, rows_hq), lse = from_dev<float>(d.lse, rows_hq);
  const std::vector<int64_t> oshape{n, s.h_q, 512}, rshape{n, s.h_q};
  const CompareResult co = compare_half(out.data(), c.out.data(), rows_hq * 512, DType::kBF16, kSpOut, oshape, "out");
  const CompareResult cm = compare_float(ml.data(), c.max_logits.data(), rows_hq, kSpStat, rshape, "max_logits");
  const CompareResult cl = compare_float(lse.data(), c.lse.data(), rows_hq, kSpStat, rshape, "lse");
  EXPECT_TRUE(co.ok) << s.name << ": " << co.message;
  EXPECT_TRUE(cm.ok) << s.name << ": " << cm.message;
  EXPECT_TRUE(cl.ok) << s.name << ": " << cl.message;
}

// ---- the case matrix ----------------------------------------------------------------------------------
std::vector<SparsePrefillSpec> gpu_cases() {
  std::vector<SparsePrefillSpec> v;
  int k = 0;
  for (int32_t d : {512, 576}) {
    for (int32_t h : {1, 3, 16, 64, 100, 128}) {
      for (int32_t topk : {1, 5, 128, 2048}) {
        SparsePrefillSpec s;
        s.d_qk = d;
        s.h_q = h;
        s.topk = topk;
        s.s_q = std::clamp<int64_t>(262144 / (int64_t{h} * topk), 3, 48);
        s.s_kv = (k % 3 == 0) ? topk / 2 + 3 : int64_t{topk} * 4 + 17;  // every 3rd: topk > s_kv
        std::string tag;
        switch (k % 6) {
          case 0: s.invalid_fraction = 0.3; tag = "invalid"; break;
          case 1: s.lengths = LengthMode::kPartial; tag = "lengths"; break;
          case 2: s.sink = SinkMode::kMixed; tag = "sinkmixed"; break;
          case 3: s.kv_row_stride = d + 64; s.invalid_fraction = 0.1; tag = "stride"; break;
          case 4: s.all_invalid_rows = true; s.sink = SinkMode::kRandom; tag = "emptyrows_sink"; break;
          default: s.lengths = LengthMode::kPartial; s.sink = SinkMode::kRandom; s.invalid_fraction = 0.2;
            tag = "all"; break;
        }
        s.name = "d" + std::to_string(d) + "_h" + std::to_string(h) + "_topk" + std::to_string(topk) + "_sq" +
                 std::to_string(s.s_q) + "_skv" + std::to_string(s.s_kv) + "_" + tag;
        v.push_back(s);
        ++k;
      }
    }
  }
  // Named edge cases.
  v.push_back({.name = "d576_h128_topk2048_skv8192_sink", .s_q = 6, .s_kv = 8192, .h_q = 128, .topk = 2048,
               .sink = SinkMode::kRandom});
  v.push_back({.name = "d512_h64_topk512_skv8192", .s_q = 8, .s_kv = 8192, .h_q = 64, .d_qk = 512, .topk = 512});
  v.push_back({.name = "d576_h16_topk128_sinkposinf", .s_q = 5, .s_kv = 300, .h_q = 16, .topk = 128,
               .sink = SinkMode::kPosInf});
  v.push_back({.name = "d576_h16_topk128_sinkneginf", .s_q = 5, .s_kv = 300, .h_q = 16, .topk = 128,
               .sink = SinkMode::kNegInf});
  v.push_back({.name = "d576_h64_topk128_lengths0", .s_q = 5, .s_kv = 300, .h_q = 64, .topk = 128,
               .lengths = LengthMode::kZero, .sink = SinkMode::kRandom});
  v.push_back({.name = "d512_h3_topk5_allinvalid", .s_q = 7, .s_kv = 30, .h_q = 3, .d_qk = 512, .topk = 5,
               .invalid_fraction = 1.0});
  v.push_back({.name = "d576_h100_topk200_skv0", .s_q = 4, .s_kv = 0, .h_q = 100, .topk = 200});
  v.push_back({.name = "d576_h128_topk130_scale3", .s_q = 4, .s_kv = 1000, .h_q = 128, .topk = 130,
               .sm_scale = 3.0f});
  // Step-count parity of the two consumers' ping-pong (odd / even numbers of 64-position steps, per-token
  // counts from 0 to topk / 64 through partial lengths), and a second head group of one row.
  v.push_back({.name = "d576_h65_topk320_lengths_sink", .s_q = 9, .s_kv = 2000, .h_q = 65, .topk = 320,
               .invalid_fraction = 0.1, .lengths = LengthMode::kPartial, .sink = SinkMode::kRandom});
  v.push_back({.name = "d512_h128_topk448_lengths", .s_q = 9, .s_kv = 5000, .h_q = 128, .d_qk = 512, .topk = 448,
               .invalid_fraction = 0.1, .lengths = LengthMode::kPartial});
  v.push_back({.name = "d576_h128_topk2047_stride", .s_q = 3, .s_kv = 9000, .h_q = 128, .topk = 2047,
               .kv_row_stride = 640, .invalid_fraction = 0.05});
  v.push_back({.name = "d576_h1_topk5_sq70000", .s_q = 70000, .s_kv = 5000, .h_q = 1, .topk = 5,
               .lengths = LengthMode::kPartial});
  v.push_back({.name = "d512_h3_topk1_sq66000_stride", .s_q = 66000, .s_kv = 100, .h_q = 3, .d_qk = 512, .topk = 1,
               .kv_row_stride = 584, .invalid_fraction = 0.2});
  return v;
}

class SparsePrefillGpu : public ::testing::TestWithParam<SparsePrefillSpec> {};

TEST_P(SparsePrefillGpu, MatchesCpu) {
  FLASHMLA_REQUIRE_HOPPER();
  SparsePrefillHost c = make_sparse_prefill_case(GetParam());
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreate(&stream));
  DeviceSparse d;
  to_device(c, &d, stream);
  ASSERT_TRUE(d.q.ptr && d.kv.ptr && d.out.ptr) << c.spec.name << ": cudaMalloc failed";
  const Status ci = can_implement(d.args);
  ASSERT_TRUE(ci.ok()) << c.spec.name << ": can_implement: " << ci.message();
  const Status st = sparse_prefill(d.args);
  ASSERT_TRUE(st.ok()) << c.spec.name << ": " << st.message();
  CUDA_OK(cudaStreamSynchronize(stream));
  CUDA_OK(cudaGetLastError());
  expect_matches_cpu(c, d);
  cudaStreamDestroy(stream);
}

INSTANTIATE_TEST_SUITE_P(Cases, SparsePrefillGpu, ::testing::ValuesIn(gpu_cases()),
                         [](const auto& info) { return info.param.name; });

// The same call twice gives bit-identical results (no races between the warpgroups), and a run inside
// a CUDA graph matches an eager one.
TEST(SparsePrefillGpuDeterminism, RepeatAndGraph) {
  FLASHMLA_REQUIRE_HOPPER();
  SparsePrefillHost c = make_sparse_prefill_case({.name = "determinism", .s_q = 64, .s_kv = 4096, .h_q = 128,
                                                  .topk = 512, .invalid_fraction = 0.1,
                                                  .lengths = LengthMode::kPartial, .sink = SinkMode::kRandom});
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreate(&stream));
  DeviceSparse d;
  to_device(c, &d, stream);
  ASSERT_TRUE(sparse_prefill(d.args).ok());
  CUDA_OK(cudaStreamSynchronize(stream));
  const std::vector<uint16_t> first = from_dev<uint16_t>(d.out, c.out.size());
  cudaMemsetAsync(d.out.ptr, 0xFF, d.out.bytes, stream);
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  const Status st = sparse_prefill(d.args);
  CUDA_OK(cudaStreamEndCapture(stream, &graph));
  ASSERT_TRUE(st.ok()) << st.message();
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
  CUDA_OK(cudaGraphLaunch(exec, stream));
  CUDA_OK(cudaStreamSynchronize(stream));
  const std::vector<uint16_t> second = from_dev<uint16_t>(d.out, c.out.size());
  size_t diff = 0;
  for (size_t i = 0; i < first.size(); ++i) diff += first[i] != second[i];
  EXPECT_EQ(diff, 0u) << "graph replay differs from the eager run in " << diff << " elements";
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  expect_matches_cpu(c, d);
  cudaStreamDestroy(stream);
}

// ---- benchmark (opt-in) -------------------------------------------------------------------------------
TEST(SparsePrefillGpuBench, DeepSeekShapes) {
  FLASHMLA_REQUIRE_HOPPER();
  if (!std::getenv("FLASHMLA_SP_BENCH")) GTEST_SKIP() << "set FLASHMLA_SP_BENCH=1 to run the benchmark";
  struct Shape {
    int32_t d, h, topk;
    int64_t s_kv;
  };
  const Shape shapes[] = {{576, 128, 2048, 8192}, {576, 128, 2048, 32768}, {576, 128, 2048, 65536},
                          {576, 128, 2048, 131072}, {512, 64, 512, 8192},  {512, 64, 512, 32768},
                          {512, 128, 1024, 8192},  {512, 128, 1024, 32768}};
  cudaStream_t stream = nullptr;
  CUDA_OK(cudaStreamCreate(&stream));
  for (const Shape& sh : shapes) {
    SparsePrefillSpec s{.name = "bench_d" + std::to_string(sh.d) + "_h" + std::to_string(sh.h) + "_topk" +
                                std::to_string(sh.topk) + "_skv" + std::to_string(sh.s_kv),
                        .s_q = 4096, .s_kv = sh.s_kv, .h_q = sh.h, .d_qk = sh.d, .topk = sh.topk,
                        .sink = SinkMode::kRandom};
    SparsePrefillHost c = make_sparse_prefill_case(s);
    DeviceSparse d;
    to_device(c, &d, stream);
    ASSERT_TRUE(sparse_prefill(d.args).ok());  // warm-up
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    constexpr int kIters = 10;
    cudaEventRecord(e0, stream);
    for (int i = 0; i < kIters; ++i) (void)sparse_prefill(d.args);
    cudaEventRecord(e1, stream);
    CUDA_OK(cudaEventSynchronize(e1));
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    const double us = 1e3 * ms / kIters;
    std::printf("[ BENCH    ] %s: %.1f us, %.1f TFLOPS\n", s.name.c_str(), us, sparse_prefill_flops(s) / us / 1e6);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    expect_matches_cpu(c, d, /*rows=*/4);
  }
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace flashmla::test
