// Helpers of the GPU test suite: device copies of a test case, the schedule and the workspace, and a
// decode on the GPU whose result is compared with the CPU backend (the oracle).
// Every GPU test calls FLASHMLA_REQUIRE_HOPPER() first: it reports the test as skipped where no sm_90
// GPU exists (CI), so the suite always runs and always tells what it did.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cases.h"
#include "compare.h"
#include "flashmla/flashmla.h"

namespace flashmla::test {

// True when device 0 is an sm_90 GPU the kernels can run on.
inline bool have_hopper() {
  static const bool ok = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
      cudaGetLastError();
      return false;
    }
    return flashmla::device_supported(0).ok();
  }();
  return ok;
}

#define FLASHMLA_REQUIRE_HOPPER() \
  do {                            \
    if (!::flashmla::test::have_hopper()) GTEST_SKIP() << "no sm_90 (Hopper) GPU on this machine"; \
  } while (0)

#define CUDA_OK(expr)                                                                \
  do {                                                                               \
    cudaError_t e_ = (expr);                                                         \
    ASSERT_EQ(e_, cudaSuccess) << #expr << ": " << cudaGetErrorString(e_);           \
  } while (0)

// Owning device buffer.
struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) : bytes(n) {
    if (n && cudaMalloc(&ptr, n) != cudaSuccess) ptr = nullptr;
  }
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr(o.ptr), bytes(o.bytes) { o.ptr = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr, o.ptr);
    std::swap(bytes, o.bytes);
    return *this;
  }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr); }
};

// A case on the device, plus its schedule and workspace, ready for decode().
struct DeviceCase {
  DeviceBuffer q, k_cache, block_table, seqlens, out, lse, meta, num_splits, workspace;
  int32_t num_sm_parts = 0;
  CaseViews views;
  DecodeArgs args;
  cudaStream_t stream = nullptr;
};

// Uploads `hc` and allocates outputs, schedule tensors (num_sm_parts: 0 = the library's choice) and
// the workspace. Returns a failure message, empty on success.
inline std::string upload(const HostCase& hc, DeviceCase* dc, int32_t num_sm_parts = 0, cudaStream_t stream = nullptr) {
  const CaseDims& d = hc.dims;
  const size_t es = 2;
  dc->stream = stream;
  dc->q = DeviceBuffer(d.q_numel() * es);
  dc->k_cache = DeviceBuffer(d.k_numel() * es);
  dc->block_table = DeviceBuffer(d.block_table_numel() * 4);
  dc->seqlens = DeviceBuffer(d.batch * 4);
  dc->out = DeviceBuffer(d.out_numel() * es);
  dc->lse = DeviceBuffer(d.lse_numel() * 4);
  if (!dc->q.ptr || !dc->k_cache.ptr || !dc->out.ptr) return "cudaMalloc failed";
  cudaMemcpy(dc->q.ptr, hc.q.data(), d.q_numel() * es, cudaMemcpyHostToDevice);
  cudaMemcpy(dc->k_cache.ptr, hc.k_cache.data(), d.k_numel() * es, cudaMemcpyHostToDevice);
  cudaMemcpy(dc->block_table.ptr, hc.block_table.data(), d.block_table_numel() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dc->seqlens.ptr, hc.seqlens.data(), d.batch * 4, cudaMemcpyHostToDevice);

  int32_t parts = num_sm_parts;
  if (parts <= 0) {
    Status st = query_num_sm_parts(DeviceType::kCUDA, 0, hc.spec.s_q * hc.spec.h_q / hc.spec.h_kv, hc.spec.h_kv,
                                   hc.spec.s_q, &parts);
    if (!st.ok()) return "query_num_sm_parts: " + st.message();
  }
  dc->num_sm_parts = parts;
  dc->meta = DeviceBuffer(static_cast<size_t>(parts) * kScheduleRecordInts * 4);
  dc->num_splits = DeviceBuffer((d.batch + 1) * 4);
  const size_t ws = decode_workspace_size(d.batch, d.s_q, d.h_q, kDV, parts);
  dc->workspace = DeviceBuffer(ws);

  CasePointers p{dc->q.ptr, dc->k_cache.ptr, dc->block_table.ptr, dc->seqlens.ptr, dc->out.ptr, dc->lse.ptr};
  dc->views = make_views(d, hc.spec.dtype, p, DeviceType::kCUDA, 0);
  dc->args = make_decode_args(hc.spec, dc->views);
  dc->args.tile_scheduler_metadata = make_view(dc->meta.ptr, DType::kInt32, {parts, kScheduleRecordInts}, DeviceType::kCUDA);
  dc->args.num_splits = make_view(dc->num_splits.ptr, DType::kInt32, {d.batch + 1}, DeviceType::kCUDA);
  dc->args.workspace = dc->workspace.ptr;
  dc->args.workspace_bytes = ws;
  dc->args.stream = reinterpret_cast<Stream>(stream);
  return cudaGetLastError() == cudaSuccess ? "" : "CUDA error during upload";
}

inline ScheduleArgs schedule_args(const HostCase& hc, const DeviceCase& dc) {
  ScheduleArgs s;
  s.cache_seqlens = dc.views.cache_seqlens;
  s.num_q_rows_per_head_k = hc.spec.s_q * hc.spec.h_q / hc.spec.h_kv;
  s.num_heads_k = hc.spec.h_kv;
  s.s_q = hc.spec.s_q;
  s.num_sm_parts = dc.num_sm_parts;
  s.tile_scheduler_metadata = dc.args.tile_scheduler_metadata;
  s.num_splits = dc.args.num_splits;
  s.stream = dc.args.stream;
  return s;
}

// Fills out and lse with NaN bit patterns (0xFF bytes) so that every element must be written.
inline void poison_device_outputs(DeviceCase& dc) {
  cudaMemsetAsync(dc.out.ptr, 0xFF, dc.out.bytes, dc.stream);
  cudaMemsetAsync(dc.lse.ptr, 0xFF, dc.lse.bytes, dc.stream);
}

struct GpuResult {
  std::vector<uint16_t> out;
  std::vector<float> lse;
};
inline GpuResult download(const DeviceCase& dc) {
  GpuResult r;
  r.out.resize(dc.out.bytes / 2);
  r.lse.resize(dc.lse.bytes / 4);
  cudaStreamSynchronize(dc.stream);
  cudaMemcpy(r.out.data(), dc.out.ptr, dc.out.bytes, cudaMemcpyDeviceToHost);
  cudaMemcpy(r.lse.data(), dc.lse.ptr, dc.lse.bytes, cudaMemcpyDeviceToHost);
  return r;
}

// The oracle: the CPU backend through the public API, on the host copy of the case.
inline std::string cpu_reference(HostCase& hc) {
  poison_outputs(hc);
  CaseViews v = host_views(hc);
  DecodeArgs a = make_decode_args(hc.spec, v);
  Status st = decode(a);
  return st.ok() ? "" : "CPU backend: " + st.message();
}

// Compares a GPU result with hc.out / hc.lse (filled by cpu_reference). Adds gtest failures.
inline void expect_matches(const HostCase& hc, const GpuResult& g, const std::string& what = "") {
  const CaseDims& d = hc.dims;
  const std::vector<int64_t> oshape{d.batch, d.s_q, d.h_q, kDV}, lshape{d.batch, d.h_q, d.s_q};
  CompareResult co = compare_out(g.out.data(), hc.out.data(), hc.out.size(), hc.spec.dtype, oshape);
  CompareResult cl = compare_lse(g.lse.data(), hc.lse.data(), hc.lse.size(), lshape);
  EXPECT_TRUE(co.ok) << hc.spec.name << what << " out: " << co.message;
  EXPECT_TRUE(cl.ok) << hc.spec.name << what << " lse: " << cl.message;
}

}  // namespace flashmla::test
