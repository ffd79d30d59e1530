// A decoding step captured in a CUDA graph (schedule + decode), replayed after the engine changed
// cache_seqlens, the block table and the cache in place: the replay must compute the new answer.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include "gpu_harness.h"

namespace flashmla::test {
namespace {

TEST(GpuGraph, ReplayAfterChangingLengthsAndBlockTable) {
  FLASHMLA_REQUIRE_HOPPER();
  // Same lengths in another order: identical tensor shapes, a different schedule.
  HostCase a = make_case(list_case({300, 1000, 50, 0, 4100}, 2, 64, 1, true, DType::kBF16));
  HostCase b = make_case(list_case({4100, 0, 300, 1000, 50}, 2, 64, 1, true, DType::kBF16));
  ASSERT_EQ(a.q.size(), b.q.size());
  ASSERT_EQ(a.k_cache.size(), b.k_cache.size());
  ASSERT_EQ(a.block_table.size(), b.block_table.size());
  ASSERT_EQ(cpu_reference(a), "");
  ASSERT_EQ(cpu_reference(b), "");

  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  DeviceCase dc;
  ASSERT_EQ(upload(a, &dc, 0, stream), "");

  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CUDA_OK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  Status s1 = compute_schedule(schedule_args(a, dc));
  Status s2 = decode(dc.args);
  CUDA_OK(cudaStreamEndCapture(stream, &graph));
  ASSERT_TRUE(s1.ok()) << s1.message();
  ASSERT_TRUE(s2.ok()) << s2.message();
  CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));

  poison_device_outputs(dc);
  CUDA_OK(cudaGraphLaunch(exec, stream));
  expect_matches(a, download(dc), " (graph replay 1)");

  // The engine's next step: new lengths, block table, cache contents and queries, same buffers.
  CUDA_OK(cudaMemcpyAsync(dc.q.ptr, b.q.data(), b.q.size() * 2, cudaMemcpyHostToDevice, stream));
  CUDA_OK(cudaMemcpyAsync(dc.k_cache.ptr, b.k_cache.data(), b.k_cache.size() * 2, cudaMemcpyHostToDevice, stream));
  CUDA_OK(cudaMemcpyAsync(dc.block_table.ptr, b.block_table.data(), b.block_table.size() * 4, cudaMemcpyHostToDevice, stream));
  CUDA_OK(cudaMemcpyAsync(dc.seqlens.ptr, b.seqlens.data(), b.seqlens.size() * 4, cudaMemcpyHostToDevice, stream));
  poison_device_outputs(dc);
  CUDA_OK(cudaGraphLaunch(exec, stream));
  expect_matches(b, download(dc), " (graph replay 2)");

  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace flashmla::test
