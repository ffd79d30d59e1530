// Device-side split-KV scheduler: one CTA turns cache_seqlens into tile_scheduler_metadata and
// num_splits with the formulas of src/common/split_plan.h -- the same ones the CPU twin
// (src/cpu/schedule.cpp) applies sequentially, so both produce identical records. No host sync:
// the partition count is fixed on the host from shapes alone, the rest is computed here.
#include <cuda_runtime.h>

#include "common/split_plan.h"
#include "common/tile_map.h"
#include "kernels/cuda_util.h"
#include "kernels/common/sched_meta.h"
#include "kernels/gpu_backend.h"

namespace flashmla::gpu {
namespace {

constexpr int kThreads = 512;

// Exclusive prefix sum over the block; returns this thread's prefix and the block total.
template <typename T>
__device__ T block_exclusive_scan(T v, T* total, T* warp_sums) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  T x = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const T y = __shfl_up_sync(0xffffffffu, x, o);
    if (lane >= o) x += y;
  }
  if (lane == 31) warp_sums[warp] = x;
  __syncthreads();
  if (warp == 0) {
    T w = lane < kThreads / 32 ? warp_sums[lane] : T(0);
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const T y = __shfl_up_sync(0xffffffffu, w, o);
      if (lane >= o) w += y;
    }
    if (lane < kThreads / 32) warp_sums[lane] = w;  // inclusive
  }
  __syncthreads();
  const T warp_prefix = warp > 0 ? warp_sums[warp - 1] : T(0);
  *total = warp_sums[kThreads / 32 - 1];
  __syncthreads();  // warp_sums is reused by the next call
  return warp_prefix + x - v;
}

__global__ void __launch_bounds__(kThreads) schedule_kernel(const int32_t* __restrict__ seqlens, int32_t batch,
                                                            int32_t parts, int32_t* __restrict__ meta,
                                                            int32_t* __restrict__ num_splits) {
  __shared__ int64_t sums64[kThreads / 32];
  __shared__ int32_t sums32[kThreads / 32];
  __shared__ int32_t any_negative;
  if (threadIdx.x == 0) any_negative = 0;
  __syncthreads();

  // Pass 1: total cost -> payload.
  int64_t my_cost = 0;
  for (int i = threadIdx.x; i < batch; i += kThreads) {
    const int32_t L = seqlens[i];
    my_cost += plan::request_cost(plan::dense_items(L));
    if (L < 0) any_negative = 1;
  }
  int64_t total = 0;
  block_exclusive_scan<int64_t>(my_cost, &total, sums64);
  const int64_t payload = plan::payload_of(total, parts);

  // Empty records first; the owners of each partition's first/last chunk overwrite fields below.
  for (int p = threadIdx.x; p < parts; p += kThreads) {
    int32_t* r = meta + p * plan::kRecordInts;
    r[plan::kRecBeginReq] = 0;
    r[plan::kRecBeginBlock] = 0;
    r[plan::kRecEndReq] = -1;
    r[plan::kRecEndBlock] = 0;
    r[plan::kRecBeginSlot] = 0;
    r[plan::kRecPayload] = plan::payload_field(payload);
    r[plan::kRecReserved] = 0;
    r[plan::kRecStatus] = (p == 0 && any_negative) ? plan::kStatusNegativeSeqlen : 0;
  }
  if (threadIdx.x == 0) num_splits[0] = 0;
  __syncthreads();

  // Pass 2: per request, its cost offset, its partitions and split slots.
  int64_t start_carry = 0;
  int32_t slot_carry = 0;
  for (int base = 0; base < batch; base += kThreads) {
    const int i = base + threadIdx.x;
    const bool in = i < batch;
    const int32_t n = in ? plan::dense_items(seqlens[i]) : 0;  // KV tiles of request i
    int64_t chunk_total = 0;
    const int64_t start = start_carry + block_exclusive_scan<int64_t>(in ? plan::request_cost(n) : 0, &chunk_total, sums64);
    const int32_t fp = plan::first_part(start, payload);
    const int32_t lp = plan::last_part(start, n, payload);
    const int32_t nsplit = in ? lp - fp + 1 : 0;
    int32_t split_total = 0;
    const int32_t slot0 = slot_carry + block_exclusive_scan<int32_t>(nsplit, &split_total, sums32);
    if (in) {
      num_splits[i + 1] = slot0 + nsplit;
      const int32_t lp_prev = i > 0 ? plan::last_part(start - plan::request_cost(plan::dense_items(seqlens[i - 1])),
                                                      plan::dense_items(seqlens[i - 1]), payload) : -1;
      const int32_t fp_next = i + 1 < batch ? plan::first_part(start + plan::request_cost(n), payload) : parts;
      for (int32_t p = fp; p <= lp; ++p) {
        int32_t bb, eb;
        plan::chunk_of(start, n, payload, p, &bb, &eb);
        int32_t* r = meta + p * plan::kRecordInts;
        if (p > fp || lp_prev < p) {
          r[plan::kRecBeginReq] = i;
          r[plan::kRecBeginBlock] = bb;
          r[plan::kRecBeginSlot] = slot0 + (p - fp);
        }
        if (p < lp || fp_next > p) {
          r[plan::kRecEndReq] = i;
          r[plan::kRecEndBlock] = eb;
        }
      }
    }
    start_carry += chunk_total;
    slot_carry += split_total;
  }
}

}  // namespace

Status supports_schedule(const ScheduleProblem& p) {
  return check_sm90_device(p.args->cache_seqlens.device_index, nullptr);
}

Status run_schedule(const ScheduleProblem& p) {
  const ScheduleArgs& args = *p.args;
  cudaStream_t stream = reinterpret_cast<cudaStream_t>(args.stream);
  DeviceGuard guard(args.cache_seqlens.device_index);
  cudaError_t err = guard.error();
  if (err == cudaSuccess) {
    schedule_kernel<<<1, kThreads, 0, stream>>>(static_cast<const int32_t*>(args.cache_seqlens.data), p.batch,
                                                args.num_sm_parts, static_cast<int32_t*>(args.tile_scheduler_metadata.data),
                                                static_cast<int32_t*>(args.num_splits.data));
    err = cudaGetLastError();
  }
  return cuda_status(err, "compute_schedule: schedule kernel launch");
}

}  // namespace flashmla::gpu
