// Combine: one warp per (request, query token, head) row. out = sum_s w_s * O_s with
// w_s = exp(lse_s - lse), lse = log(sum_s exp(lse_s)); rows no split saw get out 0 and lse +inf.
// Lane l owns channels 4l + 128i (i < 4): every partial row is read with 16-byte loads.
#include "kernels/common/combine.h"
#include "kernels/common/convert.cuh"

namespace flashmla::kernels {
namespace {

constexpr int kRowsPerBlock = 8;  // warps per block
constexpr int kDv = 512;

template <bool kFp16>
__global__ void __launch_bounds__(kRowsPerBlock * 32) combine_kernel(const __grid_constant__ CombineParams p) {
  const int req = blockIdx.y;
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= p.s_q * p.h_q) return;
  const int s0 = p.num_splits[req], s1 = p.num_splits[req + 1];
  if (s1 - s0 <= 1 || *p.status != 0) return;
  const int token = row / p.h_q, head = row % p.h_q;
  const int64_t rows_per_slot = static_cast<int64_t>(p.s_q) * p.h_q;

  float mx = -INFINITY;
  for (int s = s0 + lane; s < s1; s += 32) mx = fmaxf(mx, p.partial_lse[s * rows_per_slot + row]);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));

  // Output addresses are formed only where they are used: kept live across the split loop they
  // would be spilled.
  auto out_row = [&]() {
    return static_cast<uint16_t*>(p.out) + req * p.stride_o_b + token * p.stride_o_s + head * p.stride_o_h;
  };
  auto lse_at = [&]() -> float& { return p.lse[req * p.stride_lse_b + head * p.stride_lse_h + token * p.stride_lse_s]; };
  if (mx == -INFINITY) {
    uint16_t* dst = out_row();  // no split saw a key
#pragma unroll
    for (int i = 0; i < 4; ++i)
      *reinterpret_cast<uint2*>(dst + 4 * lane + 128 * i) = make_uint2(0, 0);
    if (lane == 0) lse_at() = INFINITY;
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
  for (int s = s0; s < s1; ++s) {
    const float w = __expf(p.partial_lse[s * rows_per_slot + row] - lse);
    const float4* src = reinterpret_cast<const float4*>(p.partial_o + (s * rows_per_slot + row) * kDv);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float4 v = src[lane + 32 * i];
      acc[i].x += w * v.x;
      acc[i].y += w * v.y;
      acc[i].z += w * v.z;
      acc[i].w += w * v.w;
    }
  }
  uint16_t* dst = out_row();
#pragma unroll
  for (int i = 0; i < 4; ++i)
    *reinterpret_cast<uint2*>(dst + 4 * lane + 128 * i) =
        make_uint2(pack2<kFp16>(acc[i].x, acc[i].y), pack2<kFp16>(acc[i].z, acc[i].w));
  if (lane == 0) lse_at() = lse;
}

}  // namespace

cudaError_t launch_combine(const CombineParams& p, bool fp16, cudaStream_t stream) {
  const dim3 grid((p.s_q * p.h_q + kRowsPerBlock - 1) / kRowsPerBlock, p.batch);
  if (fp16)
    combine_kernel<true><<<grid, kRowsPerBlock * 32, 0, stream>>>(p);
  else
    combine_kernel<false><<<grid, kRowsPerBlock * 32, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace flashmla::kernels
