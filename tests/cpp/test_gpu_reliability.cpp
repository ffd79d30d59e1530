// Reliability tests of the GPU paths (issue 15 item 7), each against the CPU backend (the oracle):
//   LargeCache110GiB        a ~110 GiB bf16 dense cache (page ids past 1.6 M, byte offsets past 2^36),
//                           the used pages at its top end, every other byte NaN;
//   LargeCache110GiBSparse  the sparse V32 decode with its indices at the top of a ~110 GiB FP8 cache;
//   FourThreadsFourStreams  4 host threads, each with its own stream, buffers, schedule and workspace,
//                           50 decodes each on two problems: identical bits on every repetition;
//   GraphReplayAfterBufferReuse  a captured schedule + decode replayed after eager decodes of another
//                           batch size reused (overwrote) its schedule / workspace buffers, with new
//                           input contents; both orders;
//   MultiDevice             a decode on device 1 while device 0 is current (needs 2 GPUs, else skipped).
// Everything skips where no sm_90 GPU exists; the large tests skip (saying why) where cudaMemGetInfo
// reports too little free memory. These tests run serially (ctest RUN_SERIAL): the 110 GiB allocation
// must not race other GPU tests for memory. Keep the 110 GiB tests out of compute-sanitizer runs.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/numerics.h"
#include "compare.h"
#include "flashmla/sparse_decode.h"
#include "gpu_harness.h"
#include "sparse_decode_cases.h"

namespace flashmla::test {
namespace {

constexpr size_t kGiB = size_t{1} << 30;
constexpr size_t kLargeCacheBytes = 110 * kGiB;
constexpr size_t kMarginBytes = 3 * kGiB;  // the small buffers, the context and the allocator's slack

double gib(size_t bytes) { return static_cast<double>(bytes) / static_cast<double>(kGiB); }

// Skip message when `bytes` (+ margin) does not fit in the free device memory; empty when it fits.
std::string memory_shortfall(size_t bytes) {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    (void)cudaGetLastError();
    return "cudaMemGetInfo failed";
  }
  if (free_b >= bytes + kMarginBytes) return "";
  char msg[256];
  std::snprintf(msg, sizeof msg,
                "needs %.1f GiB of free GPU memory (a %.1f GiB cache + %.0f GiB margin); cudaMemGetInfo reports "
                "%.1f GiB free of %.1f GiB",
                gib(bytes + kMarginBytes), gib(bytes), gib(kMarginBytes), gib(free_b), gib(total_b));
  return msg;
}

// ---- LargeCache110GiB ---------------------------------------------------------------------------------

TEST(GpuReliability, LargeCache110GiB) {
  FLASHMLA_REQUIRE_HOPPER();
  constexpr int64_t kPageElems = int64_t{kPage} * 1 * kD;  // h_kv = 1
  constexpr size_t kPageBytes = kPageElems * 2;            // 73 728
  const int64_t big_blocks = static_cast<int64_t>(kLargeCacheBytes / kPageBytes);  // 1 601 991
  const size_t big_bytes = static_cast<size_t>(big_blocks) * kPageBytes;
  if (const std::string why = memory_shortfall(big_bytes); !why.empty()) GTEST_SKIP() << why;

  // The small problem: its own cache (NaN tails, NaN spare pages, garbage block-table tails) and oracle.
  HostCase hc = make_case(list_case({4100, 777, 0, 9000, 65}, 2, 64, 1, true, DType::kBF16));
  ASSERT_EQ(cpu_reference(hc), "");
  const int64_t nb = hc.dims.num_blocks;

  DeviceBuffer big(big_bytes);
  ASSERT_NE(big.ptr, nullptr) << "cudaMalloc of " << gib(big_bytes) << " GiB failed although cudaMemGetInfo "
                              << "reported enough free memory";
  CUDA_OK(cudaMemset(big.ptr, 0xFF, big_bytes));  // 0xFFFF = NaN in every element: ~40 ms at 3 TB/s
  // Small page p -> big page big_blocks - 1 - p: the used pages occupy the top end, page 0 is the last.
  for (int64_t p = 0; p < nb; ++p) {
    char* dst = static_cast<char*>(big.ptr) + static_cast<size_t>(big_blocks - 1 - p) * kPageBytes;
    CUDA_OK(cudaMemcpy(dst, hc.k_cache.data() + p * kPageElems, kPageBytes, cudaMemcpyHostToDevice));
  }
  std::vector<int32_t> table = hc.block_table;  // entries past each request's pages keep their garbage
  int64_t lowest = big_blocks, highest = -1;
  for (int32_t b = 0; b < hc.dims.batch; ++b) {
    const int32_t used = (hc.seqlens[b] + kPage - 1) / kPage;
    for (int32_t j = 0; j < used; ++j) {
      int32_t& id = table[static_cast<size_t>(b) * hc.dims.max_blocks + j];
      id = static_cast<int32_t>(big_blocks - 1 - id);
      lowest = std::min<int64_t>(lowest, id);
      highest = std::max<int64_t>(highest, id);
    }
  }
  ASSERT_GE(lowest, 1'600'000) << "the used pages must sit past page id 1.6 M";

  DeviceCase dc;
  ASSERT_EQ(upload(hc, &dc), "");
  CUDA_OK(cudaMemcpy(dc.block_table.ptr, table.data(), table.size() * 4, cudaMemcpyHostToDevice));
  dc.args.k_cache = make_view(big.ptr, DType::kBF16, {big_blocks, kPage, 1, kD}, DeviceType::kCUDA);
  dc.views.k_cache = dc.args.k_cache;
  ASSERT_TRUE(can_implement(dc.args).ok()) << can_implement(dc.args).message();
  for (const bool debug : {false, true}) {  // debug: the host-side page-id check against 1.6 M blocks
    const std::string what = debug ? " (110 GiB cache, debug_checks)" : " (110 GiB cache)";
    dc.args.debug_checks = debug;
    ASSERT_TRUE(compute_schedule(schedule_args(hc, dc)).ok());
    poison_device_outputs(dc);
    const Status st = decode(dc.args);
    ASSERT_TRUE(st.ok()) << st.message();
    CUDA_OK(cudaDeviceSynchronize());
    expect_matches(hc, download(dc), what);
  }
  std::printf("[ LARGE CACHE ] dense bf16: %.1f GiB, %lld pages, used page ids %lld..%lld, %lld elements\n",
              gib(big_bytes), static_cast<long long>(big_blocks), static_cast<long long>(lowest),
              static_cast<long long>(highest), static_cast<long long>(big_blocks * kPageElems));
}

TEST(GpuReliability, LargeCache110GiBSparse) {
  FLASHMLA_REQUIRE_HOPPER();
  SparseCaseSpec spec = sparse_spec(KvFormat::kSparseV32, 2, 2, 64, 256, 64);
  spec.topk_length = true;  // positions past the length hold indices of NaN tokens: shifted along
  spec = finish(spec);
  SparseHostCase c = make_sparse_case(spec);
  // The oracle on the small cache.
  ASSERT_TRUE(sparse_decode(make_sparse_args(c, host_pointers(c))).ok());
  const std::vector<uint16_t> ref_out = c.out;
  const std::vector<float> ref_lse = c.lse;
  poison(c);

  const int64_t page_bytes = c.main.page_stride;  // 64 x 656
  const int64_t big_blocks = static_cast<int64_t>(kLargeCacheBytes) / page_bytes;  // ~2.81 M pages
  const size_t big_bytes = static_cast<size_t>(big_blocks * page_bytes);
  ASSERT_LT(big_blocks * c.main.page_size, int64_t{INT32_MAX}) << "token ids must fit in int32";
  if (const std::string why = memory_shortfall(big_bytes); !why.empty()) GTEST_SKIP() << why;

  DeviceBuffer big(big_bytes);
  ASSERT_NE(big.ptr, nullptr) << "cudaMalloc of " << gib(big_bytes) << " GiB failed";
  CUDA_OK(cudaMemset(big.ptr, 0xFF, big_bytes));  // NaN in every field (e4m3, e8m0 scales, bf16 RoPE)
  const int64_t first_page = big_blocks - c.main.num_blocks;  // the small cache at the very top
  CUDA_OK(cudaMemcpy(static_cast<char*>(big.ptr) + static_cast<size_t>(first_page * page_bytes), c.main.cache.data(),
                     c.main.cache.size(), cudaMemcpyHostToDevice));
  const int64_t small_tokens = c.main.num_blocks * c.main.page_size;
  const int64_t shift = first_page * c.main.page_size;
  std::vector<int32_t> indices = c.main.indices;
  int64_t lowest = INT64_MAX;
  for (int32_t& i : indices)
    if (i >= 0 && i < small_tokens) {  // -1 holes stay -1
      i = static_cast<int32_t>(i + shift);
      lowest = std::min<int64_t>(lowest, i);
    }
  ASSERT_GE(lowest / c.main.page_size, 2'000'000) << "the selected tokens must sit past page 2 M";

  auto upload_vec = [](DeviceBuffer& d, const void* h, size_t bytes) {
    d = DeviceBuffer(bytes);
    if (d.ptr) cudaMemcpy(d.ptr, h, bytes, cudaMemcpyHostToDevice);
    return d.ptr != nullptr;
  };
  DeviceBuffer q, ind, tl, out, lse;
  ASSERT_TRUE(upload_vec(q, c.q.data(), c.q.size() * 2));
  ASSERT_TRUE(upload_vec(ind, indices.data(), indices.size() * 4));
  ASSERT_TRUE(upload_vec(tl, c.main.topk_length.data(), c.main.topk_length.size() * 4));
  ASSERT_TRUE(upload_vec(out, c.out.data(), c.out.size() * 2));  // NaN-poisoned
  ASSERT_TRUE(upload_vec(lse, c.lse.data(), c.lse.size() * 4));
  SparsePointers p;
  p.q = q.ptr;
  p.indices = ind.ptr;
  p.topk_length = tl.ptr;
  p.out = out.ptr;
  p.lse = lse.ptr;
  p.cache = big.ptr;
  SparseDecodeArgs a = make_sparse_args(c, p, DeviceType::kCUDA, 0);
  a.k_cache.shape[0] = big_blocks;  // same page layout and strides, 2.8 M pages
  const size_t ws = sparse_decode_workspace_size(spec.batch, spec.s_q, spec.h_q, spec.topk, 0);
  DeviceBuffer workspace(ws);
  a.workspace = workspace.ptr;
  a.workspace_bytes = ws;
  const Status st = sparse_decode(a);
  ASSERT_TRUE(st.ok()) << st.message();
  CUDA_OK(cudaDeviceSynchronize());

  std::vector<uint16_t> got_out(c.out.size());
  std::vector<float> got_lse(c.lse.size());
  CUDA_OK(cudaMemcpy(got_out.data(), out.ptr, got_out.size() * 2, cudaMemcpyDeviceToHost));
  CUDA_OK(cudaMemcpy(got_lse.data(), lse.ptr, got_lse.size() * 4, cudaMemcpyDeviceToHost));
  std::vector<float> g(got_out.size()), r(got_out.size());
  for (size_t i = 0; i < g.size(); ++i) {
    g[i] = numerics::bf16_to_float(got_out[i]);
    r[i] = numerics::bf16_to_float(ref_out[i]);
  }
  // The tolerances of tests/cpp/test_gpu_sparse_decode.cpp.
  const CompareResult ro = compare_float(g.data(), r.data(), g.size(), Tolerance{1e-3, 2.01 / 128, 5e-6},
                                         {spec.batch, spec.s_q, spec.h_q, 512}, "out");
  const CompareResult rl = compare_float(got_lse.data(), ref_lse.data(), got_lse.size(),
                                         Tolerance{1e-6, 8.01 / 65536, -1.0}, {spec.batch, spec.h_q, spec.s_q}, "lse");
  EXPECT_TRUE(ro.ok) << spec.name << " (110 GiB sparse cache) out: " << ro.message;
  EXPECT_TRUE(rl.ok) << spec.name << " (110 GiB sparse cache) lse: " << rl.message;
  std::printf("[ LARGE CACHE ] sparse V32: %.1f GiB, %lld pages, lowest selected token %lld, max |out - ref| %.3g\n",
              gib(big_bytes), static_cast<long long>(big_blocks), static_cast<long long>(lowest), ro.max_abs);
}

// ---- FourThreadsFourStreams ---------------------------------------------------------------------------

TEST(GpuReliability, FourThreadsFourStreams) {
  FLASHMLA_REQUIRE_HOPPER();
  constexpr int kThreads = 4, kCalls = 50, kProblems = 2;
  // Two different problems per thread (shapes, dtypes, h_kv, causal, zero lengths differ across threads).
  const CaseSpec specs[kThreads][kProblems] = {
      {list_case({1000, 65, 4100}, 1, 128, 1, false, DType::kBF16), varlen_case(8, 2, 16, 1, 2000, true, DType::kFP16, 1)},
      {list_case({300, 0, 7000, 64}, 2, 64, 1, true, DType::kBF16), fixed_case(3, 1, 32, 1, 1500, false, DType::kBF16)},
      {list_case({5000}, 4, 16, 1, true, DType::kFP16), fixed_case(16, 1, 128, 1, 700, false, DType::kBF16)},
      {list_case({129, 2000, 3333}, 1, 63, 3, false, DType::kBF16), varlen_case(32, 1, 64, 1, 1024, false, DType::kBF16, 3)},
  };
  std::vector<HostCase> cases;
  for (const auto& row : specs)
    for (const CaseSpec& s : row) {
      cases.push_back(make_case(s));
      ASSERT_EQ(cpu_reference(cases.back()), "") << s.name;
    }

  std::vector<std::vector<std::string>> errors(kThreads);
  std::atomic<int> ready{0};
  auto worker = [&](int t) {
    std::vector<std::string>& err = errors[t];
    cudaStream_t stream = nullptr;
    if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess) {
      err.push_back("cudaStreamCreate failed");
      ready.fetch_add(1);
      return;
    }
    DeviceCase dc[kProblems];
    GpuResult golden[kProblems];
    for (int k = 0; k < kProblems; ++k) {
      const std::string e = upload(cases[t * kProblems + k], &dc[k], 0, stream);
      if (!e.empty()) err.push_back(cases[t * kProblems + k].spec.name + ": " + e);
    }
    ready.fetch_add(1);
    while (ready.load() < kThreads) std::this_thread::yield();  // all threads start the calls together
    for (int call = 0; call < kCalls && err.empty(); ++call) {
      const int k = call % kProblems;
      HostCase& hc = cases[t * kProblems + k];
      DeviceCase& d = dc[k];
      poison_device_outputs(d);
      const Status s1 = compute_schedule(schedule_args(hc, d));
      const Status s2 = decode(d.args);
      if (!s1.ok() || !s2.ok()) {
        err.push_back(hc.spec.name + ": " + (s1.ok() ? s2.message() : s1.message()));
        break;
      }
      GpuResult g;
      g.out.resize(d.out.bytes / 2);
      g.lse.resize(d.lse.bytes / 4);
      cudaMemcpyAsync(g.out.data(), d.out.ptr, d.out.bytes, cudaMemcpyDeviceToHost, stream);
      cudaMemcpyAsync(g.lse.data(), d.lse.ptr, d.lse.bytes, cudaMemcpyDeviceToHost, stream);
      const cudaError_t ce = cudaStreamSynchronize(stream);
      if (ce != cudaSuccess) {
        err.push_back(hc.spec.name + ": " + cudaGetErrorString(ce));
        break;
      }
      const std::string where = hc.spec.name + " (thread " + std::to_string(t) + ", call " + std::to_string(call) + ")";
      if (call < kProblems) {  // first result of this problem: against the CPU oracle, then the reference bits
        const CaseDims& dm = hc.dims;
        const CompareResult co = compare_out(g.out.data(), hc.out.data(), hc.out.size(), hc.spec.dtype,
                                             {dm.batch, dm.s_q, dm.h_q, kDV});
        const CompareResult cl = compare_lse(g.lse.data(), hc.lse.data(), hc.lse.size(), {dm.batch, dm.h_q, dm.s_q});
        if (!co.ok) err.push_back(where + " out vs CPU: " + co.message);
        if (!cl.ok) err.push_back(where + " lse vs CPU: " + cl.message);
        golden[k] = std::move(g);
      } else if (g.out != golden[k].out ||
                 std::memcmp(g.lse.data(), golden[k].lse.data(), g.lse.size() * 4) != 0) {
        err.push_back(where + ": result differs (bitwise) from this thread's first call of the problem");
      }
    }
    cudaStreamSynchronize(stream);
    for (DeviceCase& d : dc) d = DeviceCase{};  // frees the buffers before the stream goes
    cudaStreamDestroy(stream);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(errors[t].empty()) << "thread " << t << ": " << errors[t].size() << " error(s), first: "
                                   << (errors[t].empty() ? "" : errors[t].front());
  }
}

// ---- GraphReplayAfterBufferReuse ----------------------------------------------------------------------

// The schedule and workspace buffers (W) that one engine shares between batch sizes.
struct SharedW {
  DeviceBuffer meta, num_splits, workspace;
};

// Points dc's schedule tensors and workspace at W (sized for every user by the caller).
void bind(DeviceCase& dc, const HostCase& hc, const SharedW& w) {
  dc.args.tile_scheduler_metadata =
      make_view(w.meta.ptr, DType::kInt32, {dc.num_sm_parts, kScheduleRecordInts}, DeviceType::kCUDA);
  dc.args.num_splits = make_view(w.num_splits.ptr, DType::kInt32, {hc.dims.batch + 1}, DeviceType::kCUDA);
  dc.args.workspace = w.workspace.ptr;
  dc.args.workspace_bytes = w.workspace.bytes;
}

// Captures schedule + decode of `cap` into a graph over W; runs eager decodes of `other` (another batch
// size) that overwrite W; writes the contents of `cap2` (same shapes as cap) into cap's input buffers and
// replays: the result must be cap2's. Twice, with eager decodes of `other` in between.
void graph_reuse(const CaseSpec& cap_spec, const CaseSpec& cap2_spec, const CaseSpec& other_spec) {
  HostCase cap = make_case(cap_spec), cap2 = make_case(cap2_spec), other = make_case(other_spec);
  ASSERT_EQ(cap.q.size(), cap2.q.size());
  ASSERT_EQ(cap.k_cache.size(), cap2.k_cache.size());
  ASSERT_EQ(cap.block_table.size(), cap2.block_table.size());
  ASSERT_NE(cap.dims.batch, other.dims.batch);
  ASSERT_EQ(cpu_reference(cap), "");
  ASSERT_EQ(cpu_reference(cap2), "");
  ASSERT_EQ(cpu_reference(other), "");

  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  DeviceCase dcap, doth;
  ASSERT_EQ(upload(cap, &dcap, 0, stream), "");
  ASSERT_EQ(upload(other, &doth, 0, stream), "");
  SharedW w;
  const int32_t parts = std::max(dcap.num_sm_parts, doth.num_sm_parts);
  w.meta = DeviceBuffer(static_cast<size_t>(parts) * kScheduleRecordInts * 4);
  w.num_splits = DeviceBuffer(static_cast<size_t>(std::max(cap.dims.batch, other.dims.batch) + 1) * 4);
  w.workspace = DeviceBuffer(std::max(dcap.workspace.bytes, doth.workspace.bytes));
  ASSERT_TRUE(w.meta.ptr && w.num_splits.ptr && w.workspace.ptr);
  CUDA_OK(cudaMemset(w.meta.ptr, 0xFF, w.meta.bytes));  // garbage: nothing may rely on old contents
  CUDA_OK(cudaMemset(w.num_splits.ptr, 0xFF, w.num_splits.bytes));
  CUDA_OK(cudaMemset(w.workspace.ptr, 0xFF, w.workspace.bytes));
  bind(dcap, cap, w);
  bind(doth, other, w);

  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  const Status s1 = compute_schedule(schedule_args(cap, dcap));
  const Status s2 = decode(dcap.args);
  CUDA_OK(cudaStreamEndCapture(stream, &graph));
  ASSERT_TRUE(s1.ok()) << s1.message();
  ASSERT_TRUE(s2.ok()) << s2.message();
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));

  poison_device_outputs(dcap);
  CUDA_OK(cudaGraphLaunch(exec, stream));
  expect_matches(cap, download(dcap), " (graph replay, original inputs)");

  auto eager_other = [&](const char* what) {
    poison_device_outputs(doth);
    ASSERT_TRUE(compute_schedule(schedule_args(other, doth)).ok());
    ASSERT_TRUE(decode(doth.args).ok());
    expect_matches(other, download(doth), what);
  };
  eager_other(" (eager, other batch size, after the capture)");
  eager_other(" (eager, other batch size, again)");

  // The engine's next step: new contents of the captured inputs, same pointers.
  CUDA_OK(cudaMemcpyAsync(dcap.q.ptr, cap2.q.data(), cap2.q.size() * 2, cudaMemcpyHostToDevice, stream));
  CUDA_OK(cudaMemcpyAsync(dcap.k_cache.ptr, cap2.k_cache.data(), cap2.k_cache.size() * 2, cudaMemcpyHostToDevice, stream));
  CUDA_OK(cudaMemcpyAsync(dcap.block_table.ptr, cap2.block_table.data(), cap2.block_table.size() * 4,
                          cudaMemcpyHostToDevice, stream));
  CUDA_OK(cudaMemcpyAsync(dcap.seqlens.ptr, cap2.seqlens.data(), cap2.seqlens.size() * 4, cudaMemcpyHostToDevice, stream));
  poison_device_outputs(dcap);
  CUDA_OK(cudaGraphLaunch(exec, stream));
  expect_matches(cap2, download(dcap), " (graph replay after W was reused, new inputs)");

  eager_other(" (eager, other batch size, between replays)");
  poison_device_outputs(dcap);
  CUDA_OK(cudaGraphLaunch(exec, stream));
  expect_matches(cap2, download(dcap), " (second graph replay after W was reused)");

  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  CUDA_OK(cudaStreamSynchronize(stream));
  cudaStreamDestroy(stream);
}

TEST(GpuReliability, GraphReplayAfterBufferReuse) {
  FLASHMLA_REQUIRE_HOPPER();
  // Batch 3 and batch 7; each "2" spec holds the same lengths in another order (same tensor shapes,
  // another schedule) and other data (the seed follows the name).
  const CaseSpec small = list_case({300, 1000, 50}, 2, 64, 1, true, DType::kBF16);
  const CaseSpec small2 = list_case({1000, 50, 300}, 2, 64, 1, true, DType::kBF16);
  const CaseSpec large = list_case({4100, 0, 77, 2000, 640, 9, 1500}, 1, 128, 1, false, DType::kBF16);
  const CaseSpec large2 = list_case({9, 1500, 4100, 0, 640, 77, 2000}, 1, 128, 1, false, DType::kBF16);
  {
    SCOPED_TRACE("graph of batch 3, eager batch 7 in between");
    graph_reuse(small, small2, large);
  }
  {
    SCOPED_TRACE("graph of batch 7, eager batch 3 in between");
    graph_reuse(large, large2, small);
  }
}

// ---- MultiDevice --------------------------------------------------------------------------------------

TEST(GpuReliability, MultiDevice) {
  FLASHMLA_REQUIRE_HOPPER();
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    count = 0;
  }
  if (count < 2) GTEST_SKIP() << "needs 2 GPUs (cudaGetDeviceCount = " << count << ")";
  const Status sup = device_supported(1);
  if (!sup.ok()) GTEST_SKIP() << "needs 2 GPUs of sm_90; device 1: " << sup.message();

  HostCase hc = make_case(list_case({700, 4100, 1}, 2, 64, 1, true, DType::kBF16));
  ASSERT_EQ(cpu_reference(hc), "");
  int32_t parts = 0;
  ASSERT_TRUE(query_num_sm_parts(DeviceType::kCUDA, 1, hc.spec.s_q * hc.spec.h_q / hc.spec.h_kv, hc.spec.h_kv,
                                 hc.spec.s_q, &parts)
                  .ok());
  CUDA_OK(cudaSetDevice(1));
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  {
    DeviceCase dc;  // every buffer on device 1 (the current device while allocating)
    ASSERT_EQ(upload(hc, &dc, parts, stream), "");
    for (TensorView* v : {&dc.views.q, &dc.views.k_cache, &dc.views.block_table, &dc.views.cache_seqlens,
                          &dc.views.out, &dc.views.lse, &dc.args.q, &dc.args.k_cache, &dc.args.block_table,
                          &dc.args.cache_seqlens, &dc.args.out, &dc.args.lse, &dc.args.tile_scheduler_metadata,
                          &dc.args.num_splits})
      v->device_index = 1;
    CUDA_OK(cudaSetDevice(0));  // the caller's current device is the other GPU: the library must switch
    const Status s1 = compute_schedule(schedule_args(hc, dc));
    const Status s2 = decode(dc.args);
    ASSERT_TRUE(s1.ok()) << s1.message();
    ASSERT_TRUE(s2.ok()) << s2.message();
    int cur = -1;
    CUDA_OK(cudaGetDevice(&cur));
    EXPECT_EQ(cur, 0) << "decode on device 1 must restore the caller's current device";
    expect_matches(hc, download(dc), " (device 1)");
    CUDA_OK(cudaSetDevice(1));  // free device 1's buffers with it current
  }
  cudaStreamDestroy(stream);
  CUDA_OK(cudaSetDevice(0));
}

}  // namespace
}  // namespace flashmla::test
