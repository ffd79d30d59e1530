// merge_kernel: out = sum_i exp(lse_i - lse) * out_i, lse = log sum_i exp(lse_i) (include/flashmla/merge.h).
//
// Grid: 1-D, kWarpsPerBlock warps per block, one warp per work item (row, chunk), grid-stride beyond
// kMaxGridBlocks blocks. Row r = (b * s_q + s) * h_q + h; chunk c covers channels [c * kChunk, ...).
// No shared memory, no block-level synchronization: warps are independent (config.h has the budgets).
//
// Per item:
//   pass 1 (lse): lane l reads lse_l and lse_{l+32} (n <= 64), warp-reduces the max over live parts
//     (finite lse), the sum of exp(lse_i - max) and a NaN flag; a 64-bit ballot lists the live parts and
//     each lane keeps the weights of its two parts.
//   pass 2 (out): walks the live parts kUnroll at a time (the part index and its weight -- a shuffle --
//     are warp-uniform, so empty parts are skipped, never multiplied: NaN there cannot leak), issues
//     all their 16-byte streaming loads (ld.global.cs: read once) and then accumulates in fp32.
//   write: out rounded once (round to nearest even), lse by lane 0 of chunk 0. NaN lse_i -> NaN row;
//     no live part -> out 0, lse +inf.
// The accurate expf/logf are used: the lse pass touches n floats per item, nothing next to the
// n * dv elements of pass 2, and the lse must hold ~1 ulp.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/merge/config.h"
#include "kernels/common/merge/params.h"

namespace flashmla::kernels::merge {

constexpr unsigned kFullMask = 0xffffffffu;

template <Fmt F>
using storage_t = std::conditional_t<F == Fmt::kFP32, float, uint16_t>;

template <Fmt F>
__device__ __forceinline__ float to_float(uint16_t x) {
  if constexpr (F == Fmt::kBF16) return __uint_as_float(static_cast<uint32_t>(x) << 16);
  else return __half2float(__ushort_as_half(x));
}

// What one load brings in: a 16-byte vector, or one element (kElems == 1). Kept raw while in flight
// (8 bf16 = 4 registers, not 8 floats) and unpacked only when accumulated.
template <Fmt F, int kElems>
using raw_t = std::conditional_t<kElems == 1, storage_t<F>, uint4>;

// kElems consecutive elements at p (16-byte aligned when kElems > 1), streaming (read once).
template <Fmt F, int kElems>
__device__ __forceinline__ raw_t<F, kElems> load(const storage_t<F>* p) {
  if constexpr (kElems == 1) {
    if constexpr (F == Fmt::kFP32) return __ldcs(p);
    else return __ldcs(reinterpret_cast<const unsigned short*>(p));
  } else {
    static_assert(kElems * sizeof(storage_t<F>) == 16, "vector loads are 16 bytes");
    return __ldcs(reinterpret_cast<const uint4*>(p));
  }
}

// acc[e] += w * element e of r.
template <Fmt F, int kElems>
__device__ __forceinline__ void fma_raw(float w, const raw_t<F, kElems>& r, float (&acc)[kElems]) {
  if constexpr (kElems == 1) {
    if constexpr (F == Fmt::kFP32) acc[0] = fmaf(w, r, acc[0]);
    else acc[0] = fmaf(w, to_float<F>(r), acc[0]);
  } else {
    const uint32_t q[4] = {r.x, r.y, r.z, r.w};
    if constexpr (F == Fmt::kFP32) {
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[i] = fmaf(w, __uint_as_float(q[i]), acc[i]);
    } else {
#pragma unroll
      for (int i = 0; i < 4; ++i) {  // element 2i is the low half (lower address)
        acc[2 * i] = fmaf(w, to_float<F>(static_cast<uint16_t>(q[i] & 0xffffu)), acc[2 * i]);
        acc[2 * i + 1] = fmaf(w, to_float<F>(static_cast<uint16_t>(q[i] >> 16)), acc[2 * i + 1]);
      }
    }
  }
}

template <Fmt F>
__device__ __forceinline__ uint16_t to_bits(float x) {
  if constexpr (F == Fmt::kBF16) return __bfloat16_as_ushort(__float2bfloat16_rn(x));
  else return __half_as_ushort(__float2half_rn(x));
}

// kElems floats to p (16-byte aligned when kElems > 1; fp32 output of a 16-bit vector: two 16-byte stores).
template <Fmt F, int kElems>
__device__ __forceinline__ void store(storage_t<F>* p, const float (&f)[kElems]) {
  if constexpr (kElems == 1) {
    if constexpr (F == Fmt::kFP32) *p = f[0];
    else *p = to_bits<F>(f[0]);
  } else if constexpr (F == Fmt::kFP32) {
    static_assert(kElems % 4 == 0, "float4 stores");
#pragma unroll
    for (int i = 0; i < kElems; i += 4)
      *reinterpret_cast<float4*>(p + i) = make_float4(f[i], f[i + 1], f[i + 2], f[i + 3]);
  } else {
    static_assert(kElems == 8, "16-bit vectors are 8 elements");
    uint32_t w[4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
      w[i] = static_cast<uint32_t>(to_bits<F>(f[2 * i])) | (static_cast<uint32_t>(to_bits<F>(f[2 * i + 1])) << 16);
    *reinterpret_cast<uint4*>(p) = make_uint4(w[0], w[1], w[2], w[3]);
  }
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
  return v;
}

template <Fmt kIn, Fmt kOut, bool kVector>
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm) merge_kernel(const __grid_constant__ MergeParams p) {
  using S = Shape<kIn, kVector>;
  constexpr int kElems = S::kElems, kVecs = S::kVecPerLane, kUnroll = S::kUnroll;
  const int lane = threadIdx.x & 31;
  const auto* outs = static_cast<const storage_t<kIn>*>(p.outs);
  auto* out = static_cast<storage_t<kOut>*>(p.out);
  const int64_t stride_items = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;

  // item is warp-uniform: every branch below on it, on the ballot or on the NaN flag is uniform.
  for (int64_t item = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32; item < p.num_items;
       item += stride_items) {
    const int64_t row = item / p.chunks;
    const int chunk = static_cast<int>(item - row * p.chunks);
    const int64_t h = row % p.h_q, bs = row / p.h_q;
    const int64_t s = bs % p.s_q, b = bs / p.s_q;

    // ---- pass 1: the n lse values ----
    const float* lp = p.lses + b * p.stride_lses_b + h * p.stride_lses_h + s * p.stride_lses_s;
    const float l0 = lane < p.num_parts ? lp[lane * p.stride_lses_n] : -INFINITY;  // -inf: padding = empty
    const float l1 = lane + 32 < p.num_parts ? lp[(lane + 32) * p.stride_lses_n] : -INFINITY;
    const bool nan = __any_sync(kFullMask, isnan(l0) || isnan(l1));
    const bool live0 = isfinite(l0), live1 = isfinite(l1);
    const uint64_t live = static_cast<uint64_t>(__ballot_sync(kFullMask, live0)) |
                          (static_cast<uint64_t>(__ballot_sync(kFullMask, live1)) << 32);
    const float mx = warp_max(fmaxf(live0 ? l0 : -INFINITY, live1 ? l1 : -INFINITY));
    const float e0 = live0 ? expf(l0 - mx) : 0.0f, e1 = live1 ? expf(l1 - mx) : 0.0f;
    const float sum = warp_sum(e0 + e1);  // >= 1 when a part is live (the max contributes exp(0))
    const float inv = 1.0f / sum;
    const float w0 = e0 * inv, w1 = e1 * inv;

    // ---- pass 2: weighted sum of the live parts ----
    const int64_t row_off = b * p.stride_outs_b + s * p.stride_outs_s + h * p.stride_outs_h;
    const int c0 = chunk * S::kChunk + lane * kElems;  // this lane's first channel; vector j adds 32 * kElems * j
    float acc[kVecs][kElems];
#pragma unroll
    for (int j = 0; j < kVecs; ++j)
#pragma unroll
      for (int e = 0; e < kElems; ++e) acc[j][e] = 0.0f;
    uint64_t todo = nan ? 0 : live;
    while (todo != 0) {
      int idx[kUnroll];
      float w[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        idx[u] = -1;
        w[u] = 0.0f;
        if (todo != 0) {
          const int i = __ffsll(static_cast<long long>(todo)) - 1;
          todo &= todo - 1;
          idx[u] = i;
          w[u] = __shfl_sync(kFullMask, i < 32 ? w0 : w1, i & 31);
        }
      }
      raw_t<kIn, kElems> v[kUnroll][kVecs];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const storage_t<kIn>* src = outs + row_off + static_cast<int64_t>(idx[u] < 0 ? 0 : idx[u]) * p.stride_outs_n;
#pragma unroll
        for (int j = 0; j < kVecs; ++j) {
          const int c = c0 + j * 32 * kElems;
          if (idx[u] >= 0 && c < p.head_dim) v[u][j] = load<kIn, kElems>(src + c);
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (idx[u] < 0) continue;
#pragma unroll
        for (int j = 0; j < kVecs; ++j)
          if (c0 + j * 32 * kElems < p.head_dim) fma_raw<kIn, kElems>(w[u], v[u][j], acc[j]);
      }
    }

    // ---- write ----
    const float fill = nan ? __int_as_float(0x7fc00000) : 0.0f;  // quiet NaN / zero rows
    storage_t<kOut>* dst = out + b * p.stride_out_b + s * p.stride_out_s + h * p.stride_out_h;
#pragma unroll
    for (int j = 0; j < kVecs; ++j) {
      const int c = c0 + j * 32 * kElems;
      if (c >= p.head_dim) continue;
      if (nan || live == 0) {
#pragma unroll
        for (int e = 0; e < kElems; ++e) acc[j][e] = fill;
      }
      store<kOut, kElems>(dst + c, acc[j]);
    }
    if (chunk == 0 && lane == 0) {
      const float lse = nan ? __int_as_float(0x7fc00000) : (live == 0 ? INFINITY : mx + logf(sum));
      p.lse[b * p.stride_lse_b + h * p.stride_lse_h + s * p.stride_lse_s] = lse;
    }
  }
}

}  // namespace flashmla::kernels::merge
