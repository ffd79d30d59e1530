// Combine: merges the fp32 partials of split requests into out / lse.
//   out = sum_s w_s * O_s,  w_s = exp(lse_s - lse),  lse = log(sum_s exp(lse_s));
//   rows that no split saw get out 0 and lse +inf. With p.attn_sink (sparse decode only):
//   out *= 1 / (1 + exp(sink[h] - lse)) on rows some split saw.
// Lane l owns channels 4l + 128i (i < 4) of a row, read with 16-byte loads. kWarpsPerRow (1, 2, 4 or 8)
// warps share a row's splits (warp w of the row takes splits w, w + kWarpsPerRow, ...) and meet in
// shared memory; a block of 8 warps holds 8 / kWarpsPerRow rows. The launch picks the most warps per row
// that still fit the grid in about one wave of warps (rows * kWarpsPerRow <= 8192 on 132 SMs, which hold
// 8448; scaled by the device's SM count):
// b = 1 with ~67 splits per row wants 8 (one warp walking them would be bound by load latency), b = 32
// at h 128 (4096 rows, ~3 splits each) 2 -- 8 there made four waves of mostly idle warps -- and b = 128
// one warp per row. Each warp loads its first split's O before the row's lse is known (the load overlaps
// the lse pass); with few rows (<= 512: b = 1-4, ~8 splits per warp) it loads the rest 4 splits at a
// time, all loads of a batch before their sums (512 rows on 132 SMs, scaled likewise). H200, 2026-12-03: b1/64k/h16 combine 15.9 -> 9.5 us,
// b1/8k/h128 10.9 -> 9.7, b32/8k/h128 (with the wave rule) 20.5 -> 11.4.
#include "common/workspace.h"
#include "kernels/common/split_kv.h"
#include "kernels/common/convert.cuh"
#include "kernels/common/pdl.cuh"
#include "kernels/gpu_backend.h"

namespace flashmla::kernels {
namespace {

constexpr int kWarps = 8;  // per block
constexpr int kDv = 512;
// The launch thresholds as measured on the 132-SM H200 (H100 SXM / H800 alike); launch() scales them by the
// device's SM count (H20: 78, H100 PCIe: 114).
constexpr int64_t kRefSms = 132;
constexpr int64_t kWaveWarps = 8192;  // about one wave of warps (132 SMs hold 8448)
constexpr int64_t kFewRows = 512;     // at most this many rows: ~8 splits per warp, the batched loads

// kBatch: splits whose loads each warp has in flight together (beyond the prefetched first one).
template <bool kFp16, int kWarpsPerRow, int kBatch>
__global__ void __launch_bounds__(kWarps * 32) combine_kernel(const __grid_constant__ CombineParams p) {
  static_assert(kWarps % kWarpsPerRow == 0, "whole rows per block");
  constexpr int kRowsPerBlock = kWarps / kWarpsPerRow;
  __shared__ float4 red[kWarpsPerRow > 1 ? kWarps : 1][kDv / 4];
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int req = blockIdx.x, row = blockIdx.y * kRowsPerBlock + warp / kWarpsPerRow;
  const int part = warp % kWarpsPerRow;  // this warp's share of the row's splits
  // PDL: this grid may be running while the split kernel still writes status, partial_o and
  // partial_lse. Wait before the first global read -- num_splits comes from an earlier kernel, but
  // waiting before everything keeps the rule simple: nothing below may be moved above this line.
  grid_dependency_wait();
  const int s0 = p.num_splits[req], s1 = p.num_splits[req + 1];
  if (s1 - s0 <= 1 || *p.status != 0) return;  // uniform over the block
  const bool active = row < p.s_q * p.h_q;
  const int64_t rows_per_slot = static_cast<int64_t>(p.s_q) * p.h_q;
  const int token = row / p.h_q, head = row % p.h_q;

  // This warp's first split's O is loaded before the row's lse is known, so that its load latency
  // overlaps the lse loads and reductions (one round trip of ~1 us in a kernel of 5-10 us).
  const int first = s0 + part;
  const auto src = [&](int s) {
    return reinterpret_cast<const float4*>(p.partial_o + (s * rows_per_slot + row) * kDv) + lane;
  };
  float4 pre[4];
  const bool has_first = active && first < s1;
#pragma unroll
  for (int i = 0; i < 4; ++i) pre[i] = has_first ? __ldg(src(first) + 32 * i) : make_float4(0.f, 0.f, 0.f, 0.f);

  float mx = -INFINITY, sum = 0.0f;
  if (active) {
    for (int s = s0 + lane; s < s1; s += 32) mx = fmaxf(mx, p.partial_lse[s * rows_per_slot + row]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if (mx != -INFINITY) {
      for (int s = s0 + lane; s < s1; s += 32) sum += __expf(p.partial_lse[s * rows_per_slot + row] - mx);
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    }
  }
  const float lse = mx + __logf(sum);  // -inf when no split saw a key

  float4 acc[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) acc[i] = make_float4(0.f, 0.f, 0.f, 0.f);
  const auto add = [&](float w, const float4 (&v)[4]) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      acc[i].x += w * v[i].x;
      acc[i].y += w * v[i].y;
      acc[i].z += w * v[i].z;
      acc[i].w += w * v[i].w;
    }
  };
  if (has_first && mx != -INFINITY) {
    add(__expf(p.partial_lse[first * rows_per_slot + row] - lse), pre);
    // The rest in batches of kBatch splits, every load of a batch issued before its sums (the compiler's
    // own unrolling interleaved them and kept ~1 split in flight; b = 1 gives each of a row's 8 warps ~8).
    for (int s = first + kWarpsPerRow; s < s1; s += kBatch * kWarpsPerRow) {
      float4 v[kBatch][4];
      float l[kBatch];
#pragma unroll
      for (int u = 0; u < kBatch; ++u) {
        const int su = s + u * kWarpsPerRow;
        const bool ok = su < s1;
#pragma unroll
        for (int i = 0; i < 4; ++i) v[u][i] = ok ? __ldg(src(su) + 32 * i) : make_float4(0.f, 0.f, 0.f, 0.f);
        l[u] = ok ? p.partial_lse[su * rows_per_slot + row] : -INFINITY;  // weight 0 past the end
      }
#pragma unroll
      for (int u = 0; u < kBatch; ++u) add(__expf(l[u] - lse), v[u]);
    }
  }
  if constexpr (kWarpsPerRow > 1) {
    // The row's other warps hand their sums to its first warp (part 0), which writes the row.
#pragma unroll
    for (int i = 0; i < 4; ++i) red[warp][lane + 32 * i] = acc[i];
    __syncthreads();
    if (part != 0) return;
#pragma unroll
    for (int w = 1; w < kWarpsPerRow; ++w) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float4 v = red[warp + w][lane + 32 * i];
        acc[i].x += v.x;
        acc[i].y += v.y;
        acc[i].z += v.z;
        acc[i].w += v.w;
      }
    }
  }
  if (!active) return;
  if (p.attn_sink != nullptr && mx != -INFINITY) {  // sparse decode: the sink on the merged lse, once
    const float f = 1.0f / (1.0f + expf(p.attn_sink[head * p.stride_attn_sink_h] - lse));
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      acc[i].x *= f;
      acc[i].y *= f;
      acc[i].z *= f;
      acc[i].w *= f;
    }
  }
  uint16_t* dst = static_cast<uint16_t*>(p.out) + req * p.stride_o_b + token * p.stride_o_s + head * p.stride_o_h;
#pragma unroll
  for (int i = 0; i < 4; ++i)
    *reinterpret_cast<uint2*>(dst + 4 * lane + 128 * i) =
        make_uint2(pack2<kFp16>(acc[i].x, acc[i].y), pack2<kFp16>(acc[i].z, acc[i].w));
  if (lane == 0)
    p.lse[req * p.stride_lse_b + head * p.stride_lse_h + token * p.stride_lse_s] = mx == -INFINITY ? INFINITY : lse;
}

// Launches with programmatic stream serialization: the combine may be scheduled as soon as every CTA
// of the split kernel (the previous launch on `stream`) has executed launch_dependents() or exited,
// so its launch latency (a few microseconds, comparable to the combine itself for small batches)
// hides under the split kernel's tail; correctness rests on the kernel's grid_dependency_wait(). After
// anything other than a kernel the attribute changes nothing. CUDA graphs (12.3+) capture the launch
// as a programmatic dependency edge, so decode() stays capturable.
template <bool kFp16, int kWarpsPerRow, int kBatch>
cudaError_t launch_pdl(const CombineParams& p, dim3 grid, cudaStream_t stream) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = dim3(kWarps * 32);
  cfg.dynamicSmemBytes = 0;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  const cudaError_t err = cudaLaunchKernelEx(&cfg, combine_kernel<kFp16, kWarpsPerRow, kBatch>, p);
  if (err != cudaSuccess) (void)cudaGetLastError();  // reported through the return value: don't leave it pending
  return err;
}

template <bool kFp16>
cudaError_t launch(const CombineParams& p, int device, cudaStream_t stream) {
  const int64_t rows = static_cast<int64_t>(p.s_q) * p.h_q, all_rows = static_cast<int64_t>(p.batch) * rows;
  const auto grid = [&](int warps_per_row) {
    const int64_t rows_per_block = kWarps / warps_per_row;
    return dim3(p.batch, static_cast<unsigned>((rows + rows_per_block - 1) / rows_per_block));
  };
  // The most warps per row with all rows' warps in about one wave (top comment); with few rows (b <= 4
  // or so: ~67 splits per row, ~8 per warp) 4 splits' loads in flight per warp. The batch costs registers
  // (114 instead of 64: half the blocks per SM), which made b = 8 (1024 rows, ~1 split per warp) 7 %
  // slower when every launch had it (H200, 2026-12-03).
  const int64_t sms = gpu::num_sms_or(device, static_cast<int32_t>(kRefSms));
  const int64_t wave = kWaveWarps * sms / kRefSms, few = kFewRows * sms / kRefSms;
  if (all_rows <= few) return launch_pdl<kFp16, 8, 4>(p, grid(8), stream);
  if (all_rows * 8 <= wave) return launch_pdl<kFp16, 8, 1>(p, grid(8), stream);
  if (all_rows * 4 <= wave) return launch_pdl<kFp16, 4, 1>(p, grid(4), stream);
  if (all_rows * 2 <= wave) return launch_pdl<kFp16, 2, 1>(p, grid(2), stream);
  return launch_pdl<kFp16, 1, 1>(p, grid(1), stream);
}

}  // namespace

cudaError_t launch_combine(const CombineParams& p, bool fp16, int device, cudaStream_t stream) {
  return fp16 ? launch<true>(p, device, stream) : launch<false>(p, device, stream);
}

}  // namespace flashmla::kernels

namespace flashmla::kernels {

size_t split_kv_workspace_bytes(const DecodeShape& s) {
  return workspace_layout(s.batch, s.s_q, s.h_q, s.head_dim_v, s.num_sm_parts).total_bytes;
}

SplitKvOutputs make_split_kv_outputs(const DecodeArgs& a, const DecodeShape& s) {
  const WorkspaceLayout ws = workspace_layout(s.batch, s.s_q, s.h_q, s.head_dim_v, s.num_sm_parts);
  uint8_t* base = static_cast<uint8_t*>(a.workspace);
  SplitKvOutputs o{};
  o.batch = s.batch;
  o.s_q = s.s_q;
  o.h_q = s.h_q;
  o.num_splits = static_cast<const int32_t*>(a.num_splits.data);
  o.partial_o = reinterpret_cast<float*>(base + ws.partial_o_offset);
  o.partial_lse = reinterpret_cast<float*>(base + ws.partial_lse_offset);
  o.status = reinterpret_cast<int32_t*>(base + ws.status_offset);
  o.out = a.out.data;
  o.stride_o_b = a.out.stride[0];
  o.stride_o_s = a.out.stride[1];
  o.stride_o_h = a.out.stride[2];
  o.lse = static_cast<float*>(a.lse.data);
  o.stride_lse_b = a.lse.stride[0];
  o.stride_lse_h = a.lse.stride[1];
  o.stride_lse_s = a.lse.stride[2];
  return o;
}

}  // namespace flashmla::kernels
