// The device scheduler against its CPU twin: identical records and prefix sums, bit for bit, over
// thousands of random batches (lengths 0, 1, page boundaries, long; a few negative).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cpu/cpu_backend.h"
#include "gpu_harness.h"

namespace flashmla::test {
namespace {

TEST(GpuSchedule, BitIdenticalToCpuTwin) {
  FLASHMLA_REQUIRE_HOPPER();
  std::mt19937_64 rng(12345);
  DeviceBuffer d_lens(4 * 5000), d_meta(4 * 8 * 700), d_splits(4 * 5001);
  int checked = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    const int32_t b = iter < 1500 ? 1 + rng() % 200 : 1 + rng() % 5000;
    const int32_t parts = 1 + rng() % 700;
    std::vector<int32_t> lens(b);
    for (auto& L : lens) {
      switch (rng() % 6) {
        case 0: L = 0; break;
        case 1: L = 1 + rng() % 3; break;
        case 2: L = 64 * (1 + rng() % 10) + static_cast<int32_t>(rng() % 3) - 1; break;
        case 3: L = rng() % 70000; break;
        case 4: L = iter % 97 == 0 ? -static_cast<int32_t>(rng() % 100) - 1 : 5; break;
        default: L = rng() % 5000;
      }
    }
    std::vector<int32_t> cpu_meta(parts * 8), cpu_splits(b + 1), gpu_meta(parts * 8), gpu_splits(b + 1);
    cpu::compute_schedule(lens.data(), b, parts, cpu_meta.data(), cpu_splits.data());
    CUDA_OK(cudaMemcpy(d_lens.ptr, lens.data(), 4 * b, cudaMemcpyHostToDevice));
    ScheduleArgs s;
    s.cache_seqlens = make_view(d_lens.ptr, DType::kInt32, {b}, DeviceType::kCUDA);
    s.num_q_rows_per_head_k = 64;
    s.num_heads_k = 1;
    s.num_sm_parts = parts;
    s.tile_scheduler_metadata = make_view(d_meta.ptr, DType::kInt32, {parts, 8}, DeviceType::kCUDA);
    s.num_splits = make_view(d_splits.ptr, DType::kInt32, {b + 1}, DeviceType::kCUDA);
    Status st = compute_schedule(s);
    ASSERT_TRUE(st.ok()) << st.message();
    CUDA_OK(cudaMemcpy(gpu_meta.data(), d_meta.ptr, 4 * 8 * parts, cudaMemcpyDeviceToHost));
    CUDA_OK(cudaMemcpy(gpu_splits.data(), d_splits.ptr, 4 * (b + 1), cudaMemcpyDeviceToHost));
    ASSERT_EQ(gpu_splits, cpu_splits) << "iter " << iter << " b=" << b << " parts=" << parts;
    ASSERT_EQ(gpu_meta, cpu_meta) << "iter " << iter << " b=" << b << " parts=" << parts;
    ++checked;
  }
  EXPECT_EQ(checked, 2000);
}

}  // namespace
}  // namespace flashmla::test
