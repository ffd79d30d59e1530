// Combine: merges the fp32 partials of split requests into out / lse.
//   out = sum_s w_s * O_s,  w_s = exp(lse_s - lse),  lse = log(sum_s exp(lse_s));
//   rows that no split saw get out 0 and lse +inf.
// One block per (request, query row). Its 8 warps share the row's splits (warp w takes splits w, w+8,
// ...); lane l owns channels 4l + 128i (i < 4), read with 16-byte loads, and the warps' sums meet in
// shared memory. Splitting over warps matters for small batches with many splits (b = 1, 132 splits):
// a single warp walking the splits one after the other is bound by load latency.
#include "kernels/common/combine.h"
#include "kernels/common/convert.cuh"

namespace flashmla::kernels {
namespace {

constexpr int kWarps = 8;
constexpr int kDv = 512;

template <bool kFp16>
__global__ void __launch_bounds__(kWarps * 32) combine_kernel(const __grid_constant__ CombineParams p) {
  __shared__ float4 red[kWarps][kDv / 4];
  const int req = blockIdx.x, row = blockIdx.y;
  const int s0 = p.num_splits[req], s1 = p.num_splits[req + 1];
  if (s1 - s0 <= 1 || *p.status != 0) return;
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int64_t rows_per_slot = static_cast<int64_t>(p.s_q) * p.h_q;

  // Every warp derives the same total LSE (the split count is small; this avoids a second barrier).
  float mx = -INFINITY;
  for (int s = s0 + lane; s < s1; s += 32) mx = fmaxf(mx, p.partial_lse[s * rows_per_slot + row]);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  const int token = row / p.h_q, head = row % p.h_q;
  if (mx == -INFINITY) {  // no split saw a key
    if (warp == 0) {
      uint16_t* dst = static_cast<uint16_t*>(p.out) + req * p.stride_o_b + token * p.stride_o_s + head * p.stride_o_h;
#pragma unroll
      for (int i = 0; i < 4; ++i) *reinterpret_cast<uint2*>(dst + 4 * lane + 128 * i) = make_uint2(0, 0);
      if (lane == 0) p.lse[req * p.stride_lse_b + head * p.stride_lse_h + token * p.stride_lse_s] = INFINITY;
    }
    return;
  }
  float sum = 0.0f;
  for (int s = s0 + lane; s < s1; s += 32) sum += __expf(p.partial_lse[s * rows_per_slot + row] - mx);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  const float lse = mx + __logf(sum);

  float4 acc[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) acc[i] = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll 2
  for (int s = s0 + warp; s < s1; s += kWarps) {
    const float w = __expf(p.partial_lse[s * rows_per_slot + row] - lse);
    const float4* src = reinterpret_cast<const float4*>(p.partial_o + (s * rows_per_slot + row) * kDv);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float4 v = __ldg(src + lane + 32 * i);
      acc[i].x += w * v.x;
      acc[i].y += w * v.y;
      acc[i].z += w * v.z;
      acc[i].w += w * v.w;
    }
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) red[warp][lane + 32 * i] = acc[i];
  __syncthreads();

  // Thread t writes channels 2t, 2t + 1.
  const int t = threadIdx.x;
  const float* redf = reinterpret_cast<const float*>(red);
  float x = 0.0f, y = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    x += redf[w * kDv + 2 * t];
    y += redf[w * kDv + 2 * t + 1];
  }
  uint16_t* dst = static_cast<uint16_t*>(p.out) + req * p.stride_o_b + token * p.stride_o_s + head * p.stride_o_h;
  *reinterpret_cast<uint32_t*>(dst + 2 * t) = pack2<kFp16>(x, y);
  if (t == 0) p.lse[req * p.stride_lse_b + head * p.stride_lse_h + token * p.stride_lse_s] = lse;
}

}  // namespace

cudaError_t launch_combine(const CombineParams& p, bool fp16, cudaStream_t stream) {
  const dim3 grid(p.batch, p.s_q * p.h_q);  // launch_decode keeps s_q * h_q <= 65535
  if (fp16)
    combine_kernel<true><<<grid, kWarps * 32, 0, stream>>>(p);
  else
    combine_kernel<false><<<grid, kWarps * 32, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace flashmla::kernels
