// merge_kernel: out = sum_i exp(lse_i - lse) * out_i, lse = log sum_i exp(lse_i) (include/flashmla/merge.h).
//
// Grid: 1-D, kWarpsPerBlock warps per block, at most one wave of warps (launch.cu sizes it). A warp
// works on groups of kRows consecutive rows (row r = (b * s_q + s) * h_q + h) for one chunk of channels
// at a time ([c * kChunk, ...)): groups g, g + #warps, ... for chunk 0, then the same for chunk 1 (dv >
// 512 only). No shared memory, no block-level synchronization: warps are independent (config.h has the
// budgets and the bandwidth prediction).
//
// Per group (a software pipeline over the warp's groups):
//   lse: lane l holds lse_l and lse_{l+32} (n <= 64) of each row of the group, loaded during the
//     PREVIOUS group's data wait; per row a warp reduction gives the max over live parts (finite lse),
//     the sum of exp(lse_i - max) and a NaN flag, a 64-bit ballot lists the live parts and each lane keeps
//     the weights of its two parts. Then the next group's lse loads are issued.
//   out: rounds over the live parts, kUnroll per row and round (the part index and its weight -- a
//     shuffle -- are warp-uniform, so empty parts are skipped, never multiplied: NaN there cannot leak):
//     all the round's 16-byte streaming loads (ld.global.cs: read once) of all kRows rows are issued,
//     then accumulated in fp32.
//   write: out rounded once (round to nearest even), lse by lane 0 of chunk 0. NaN lse_i -> NaN row;
//     no live part -> out 0, lse +inf.
// The accurate expf/logf are used: the lse work is n floats per row, nothing next to the n * dv
// elements of the out rounds, and the lse must hold ~1 ulp. Row indices are 32-bit (rows < 2^31).
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

// The lse statistics of one row (warp-uniform except w0 / w1, the weights of this lane's two parts).
struct RowStats {
  uint64_t live;  // bit i: part i has a finite lse
  float mx, sum;  // max finite lse; sum of exp(lse_i - mx) over live parts (>= 1 when live != 0)
  float w0, w1;   // weights of parts lane and lane + 32 (0 when empty)
  bool nan;       // some lse_i is NaN
};

__device__ __forceinline__ RowStats row_stats(float l0, float l1) {
  RowStats r;
  r.nan = __any_sync(kFullMask, isnan(l0) || isnan(l1));
  const bool live0 = isfinite(l0), live1 = isfinite(l1);
  r.live = static_cast<uint64_t>(__ballot_sync(kFullMask, live0)) |
           (static_cast<uint64_t>(__ballot_sync(kFullMask, live1)) << 32);
  r.mx = warp_max(fmaxf(live0 ? l0 : -INFINITY, live1 ? l1 : -INFINITY));
  const float e0 = live0 ? expf(l0 - r.mx) : 0.0f, e1 = live1 ? expf(l1 - r.mx) : 0.0f;
  r.sum = warp_sum(e0 + e1);
  const float inv = 1.0f / r.sum;
  r.w0 = e0 * inv;
  r.w1 = e1 * inv;
  return r;
}

// (b, s, h) of a row; valid = the row exists (the last group may be partial).
struct RowIdx {
  uint32_t b, s, h;
  bool valid;
};
__device__ __forceinline__ RowIdx row_idx(const MergeParams& p, uint32_t row) {
  RowIdx r;
  r.valid = row < static_cast<uint32_t>(p.num_rows);
  const uint32_t hq = static_cast<uint32_t>(p.h_q), sq = static_cast<uint32_t>(p.s_q);
  const uint32_t bs = row / hq;
  r.h = row - bs * hq;
  r.b = bs / sq;
  r.s = bs - r.b * sq;
  return r;
}

// Issues the lse loads of group g's rows (-inf = empty for padding lanes, missing rows and groups).
template <int kRows>
__device__ __forceinline__ void load_lses(const MergeParams& p, uint32_t g, int lane, float (&l0)[kRows],
                                          float (&l1)[kRows]) {
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    l0[r] = -INFINITY;
    l1[r] = -INFINITY;
    const RowIdx ri = row_idx(p, g * kRows + r);  // g < 2^31 / kRows + #warps: no wrap-around
    if (!ri.valid) continue;
    const float* lp = p.lses + ri.b * p.stride_lses_b + ri.h * p.stride_lses_h + ri.s * p.stride_lses_s;
    if (lane < p.num_parts) l0[r] = lp[lane * p.stride_lses_n];
    if (lane + 32 < p.num_parts) l1[r] = lp[(lane + 32) * p.stride_lses_n];
  }
}

template <Fmt kIn, Fmt kOut, bool kVector, int kRows>
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm) merge_kernel(const __grid_constant__ MergeParams p) {
  using S = Shape<kIn, kVector, kRows>;
  constexpr int kElems = S::kElems, kVecs = S::kVecPerLane, kUnroll = S::kUnroll;
  const int lane = threadIdx.x & 31;
  const auto* outs = static_cast<const storage_t<kIn>*>(p.outs);
  auto* out = static_cast<storage_t<kOut>*>(p.out);
  const uint32_t num_groups = (static_cast<uint32_t>(p.num_rows) + kRows - 1) / kRows;
  const uint32_t first = blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
  const uint32_t stride = gridDim.x * kWarpsPerBlock;

  // g is warp-uniform: every branch below on it, on a ballot, a todo mask or a NaN flag is uniform.
  for (int chunk = 0; chunk < p.chunks; ++chunk) {
    const int c0 = chunk * S::kChunk + lane * kElems;  // this lane's first channel; vector j adds 32 * kElems * j
    float l0[kRows], l1[kRows];
    load_lses<kRows>(p, first, lane, l0, l1);
    for (uint32_t g = first; g < num_groups; g += stride) {
      RowStats st[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) st[r] = row_stats(l0[r], l1[r]);
      load_lses<kRows>(p, g + stride, lane, l0, l1);  // the next group's: in flight during this one

      RowIdx ri[kRows];
      const storage_t<kIn>* src[kRows];
      uint64_t todo[kRows];
      float acc[kRows][kVecs][kElems];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        ri[r] = row_idx(p, g * kRows + r);
        src[r] = outs + ri[r].b * p.stride_outs_b + ri[r].s * p.stride_outs_s + ri[r].h * p.stride_outs_h;
        todo[r] = (ri[r].valid && !st[r].nan) ? st[r].live : 0;
#pragma unroll
        for (int j = 0; j < kVecs; ++j)
#pragma unroll
          for (int e = 0; e < kElems; ++e) acc[r][j][e] = 0.0f;
      }

      // ---- rounds: kUnroll live parts of every row, all loads issued before the first use ----
      for (;;) {
        uint64_t any = 0;
#pragma unroll
        for (int r = 0; r < kRows; ++r) any |= todo[r];
        if (any == 0) break;
        raw_t<kIn, kElems> v[kRows][kUnroll][kVecs];
        float w[kRows][kUnroll];
        int cnt[kRows];
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          cnt[r] = 0;
#pragma unroll
          for (int u = 0; u < kUnroll; ++u) {
            w[r][u] = 0.0f;
            if (todo[r] != 0) {
              const int i = __ffsll(static_cast<long long>(todo[r])) - 1;
              todo[r] &= todo[r] - 1;
              w[r][u] = __shfl_sync(kFullMask, i < 32 ? st[r].w0 : st[r].w1, i & 31);
              const storage_t<kIn>* pp = src[r] + static_cast<int64_t>(i) * p.stride_outs_n;
#pragma unroll
              for (int j = 0; j < kVecs; ++j) {
                const int c = c0 + j * 32 * kElems;
                if (c < p.head_dim) v[r][u][j] = load<kIn, kElems>(pp + c);
              }
              cnt[r] = u + 1;
            }
          }
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r)
#pragma unroll
          for (int u = 0; u < kUnroll; ++u) {
            if (u >= cnt[r]) continue;
#pragma unroll
            for (int j = 0; j < kVecs; ++j)
              if (c0 + j * 32 * kElems < p.head_dim) fma_raw<kIn, kElems>(w[r][u], v[r][u][j], acc[r][j]);
          }
      }

      // ---- write ----
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        if (!ri[r].valid) continue;
        const bool nan = st[r].nan, empty = st[r].live == 0;
        const float fill = nan ? __int_as_float(0x7fc00000) : 0.0f;  // quiet NaN / zero rows
        storage_t<kOut>* dst = out + ri[r].b * p.stride_out_b + ri[r].s * p.stride_out_s + ri[r].h * p.stride_out_h;
#pragma unroll
        for (int j = 0; j < kVecs; ++j) {
          const int c = c0 + j * 32 * kElems;
          if (c >= p.head_dim) continue;
          if (nan || empty) {
#pragma unroll
            for (int e = 0; e < kElems; ++e) acc[r][j][e] = fill;
          }
          store<kOut, kElems>(dst + c, acc[r][j]);
        }
        if (chunk == 0 && lane == 0) {
          const float lse = nan ? __int_as_float(0x7fc00000) : (empty ? INFINITY : st[r].mx + logf(st[r].sum));
          p.lse[ri[r].b * p.stride_lse_b + ri[r].h * p.stride_lse_h + ri[r].s * p.stride_lse_s] = lse;
        }
      }
    }
  }
}

}  // namespace flashmla::kernels::merge
