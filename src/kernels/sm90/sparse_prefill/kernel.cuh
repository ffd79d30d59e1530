// Sparse top-k prefill kernel for sm_90a: out = softmax(sm_scale * Q K_idx^T) V_idx per query token.
//
// Grid: (s_q, ceil(h_q / 64)). CTA (i, g) computes query token i, heads [64g, 64g + 64) (M = 64 rows;
// rows past h_q are zero Q rows whose results are never written), over the token's top-k positions in
// steps of 64 gathered kv rows. h_q = 128 runs two CTAs per token, which gather the same rows (the
// second read comes from L2).
//
// Threads: 256 = two warpgroups, no producer warpgroup. Per step (64 positions), with the step's kv
// rows already in stage st of shared memory:
//   1. all threads: wait for their cp.async of step b, fence for the async proxy, __syncthreads;
//      then issue the gather of step b + 1 into stage st ^ 1 (cp.async, 4 threads per row, 16 B each,
//      zero-fill for masked positions: the index is checked before the address is formed, so no byte
//      outside kv is ever read) — it lands while the tensor cores work on step b;
//   2. warpgroup c: S_c = Q K[32c : 32c + 32]^T (WGMMA m64n32k16, Q and K from shared memory,
//      d_qk / 16 k-steps), masked positions -> -inf, row max; the two row maxima are exchanged through
//      shared memory (__syncthreads) so both halves use the same running max;
//   3. warpgroup c: P_c = exp2(S_c * scale_log2 - m) -> bf16 into the shared 64 x 64 P tile
//      (__syncthreads), then O_c = O_c * f + P V[:, 256c : 256c + 256] (WGMMA m64n256k16, P and V from
//      shared memory; V = the first 512 channels of the gathered rows, read MN-major).
// Epilogue: row sums exchanged between the warpgroups, O / l times the sink factor 1 / (1 + exp(sink -
// lse)) to bf16, max_logits = sm_scale * running max, lse = natural log.
//
// Shared memory (config.h), d_qk 576: Q 72 KB + 2 stages x 72 KB + P 8 KB + 1.5 KB exchange = 226 KB
// (d_qk 512: 200 KB). Registers: O 128 + S 16 per thread, 1 CTA per SM.
// Known slack (docs/sparse_prefill.md): softmax and the barriers do not overlap the tensor cores; the
// m64n32 score tiles read Q from shared memory twice per step (one per warpgroup).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/common/convert.cuh"
#include "kernels/sm90/decode_dense/mainloop.cuh"  // quad_max, quad_sum, scale_rows (shared with dense)
#include "kernels/sm90/ptx.cuh"
#include "kernels/sm90/sparse_prefill/config.h"
#include "kernels/sm90/sparse_prefill/params.h"
#include "kernels/sm90/sparse_prefill/ptx_extra.cuh"
#include "kernels/sm90/wgmma_ops.cuh"

namespace flashmla::sm90::sparse_prefill {

constexpr float kInf = __builtin_inff();
constexpr float kLn2 = 0.69314718055994530942f;

// Byte offset of 16-byte chunk u (0..7) of row `row` in a 128B-swizzled box (rows 128 B apart).
__device__ __forceinline__ uint32_t swizzled(int row, int u) {
  return static_cast<uint32_t>(row * 128 + ((u ^ (row & 7)) << 4));
}

// This thread's quarter of one 64-row tile row: chunks sub + 4j (j < kChunksPerThread) of the row at
// `src`, i.e. channels 8 sub + 32 j .. +7, into box j / 2, chunk sub + 4 (j % 2). valid = false
// writes zeros and reads nothing.
template <class Cfg>
__device__ __forceinline__ void load_row(uint32_t tile, int row, int sub, const uint16_t* src, bool valid) {
  const uint32_t bytes = valid ? kChunkBytes : 0u;
#pragma unroll
  for (int j = 0; j < Cfg::kChunksPerThread; ++j) {
    const int box = j >> 1, u = sub + 4 * (j & 1);
    ptx2::cp_async_16(tile + box * kBoxBytes + swizzled(row, u), src + box * kBoxCols + u * 8, bytes);
  }
}

// Gathers the kv rows of positions [64 blk, 64 blk + 64) into a stage and records which are valid.
// A position is valid iff it is below `length` (topk clamped by topk_length) and its index is in
// [0, s_kv); the address of an invalid one is never formed from its index.
template <class Cfg>
__device__ __forceinline__ void gather_step(const SparsePrefillParams& p, const int32_t* idx_row, int length,
                                            int blk, uint32_t stage, uint32_t valid_slot, int tid) {
  const int row = tid / kThreadsPerRow, sub = tid % kThreadsPerRow;
  const int pos = blk * kBlockN + row;
  int idx = -1;
  if (pos < length) idx = __ldg(idx_row + static_cast<int64_t>(pos) * p.stride_idx_k);
  const bool valid = idx >= 0 && static_cast<int64_t>(idx) < p.s_kv;
  const uint16_t* src = p.kv + (valid ? static_cast<int64_t>(idx) * p.stride_kv_s : 0);
  load_row<Cfg>(stage, row, sub, src, valid);
  if (sub == 0) ptx::st_shared(valid_slot + 4 * row, valid ? 1u : 0u);
}

// S_c (64 x 32) = Q (64 x d) * K[32c : 32c + 32, :]^T, both K-major 128B-swizzled boxes 8 KB apart.
template <class Cfg>
__device__ __forceinline__ void scores(float (&sc)[16], uint32_t q_tile, uint32_t k_tile, int c) {
  const uint64_t dq = ptx::desc_kmajor(q_tile), dk = ptx::desc_kmajor(k_tile + c * kHalfN * 128);
  ptx::wgmma_fence();
#pragma unroll
  for (int box = 0; box < Cfg::kBoxes; ++box) {
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      const uint32_t off = box * kBoxBytes + kk * 32;
      ptx2::wgmma_m64n32k16_ss_bf16(sc, ptx::desc_advance(dq, off), ptx::desc_advance(dk, off), (box | kk) != 0);
    }
  }
  ptx::wgmma_commit();
  ptx::wgmma_wait<0>();
  ptx::fence_regs(sc);
}

// O_c (64 x 256) += P (64 x 64, K-major swizzled) * V[:, 256c : 256c + 256] (boxes 4c..4c+3 of the
// stage, MN-major: 64 channels per 128 B row, boxes 8 KB apart, 16 positions = 2 KB per k-step).
__device__ __forceinline__ void accumulate_pv(float (&o)[128], uint32_t p_tile, uint32_t k_tile, int c) {
  const uint64_t dp = ptx::desc_kmajor(p_tile), dv = ptx::desc_mnmajor(k_tile + c * 4 * kBoxBytes, kBoxBytes);
  ptx::wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < 4; ++kk)
    wgmma_m64n256k16_ss<false, 1>(o, ptx::desc_advance(dp, kk * 32), ptx::desc_advance(dv, kk * 2048));
  ptx::wgmma_commit();
  ptx::wgmma_wait<0>();
  ptx::fence_regs(o);
}

template <int kDQK>
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm)
    sparse_prefill_kernel(const __grid_constant__ SparsePrefillParams p) {
  using Cfg = Config<kDQK>;
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  const int64_t s = blockIdx.x;
  const int h0 = blockIdx.y * kBlockM;
  const int tid = threadIdx.x;
  const int c = tid / 128, lane = tid & 31, tq = lane & 3;
  const int r0 = ((tid & 127) >> 5) * 16 + (lane >> 2);  // this thread's rows: r0, r0 + 8

  const uint32_t sb = ptx::smem_addr(smem);
  const uint32_t q_tile = sb + Cfg::kSmemQ, k_tiles = sb + Cfg::kSmemK, p_tile = sb + Cfg::kSmemP;
  const uint32_t row_max = sb + Cfg::kSmemRowMax, row_sum = sb + Cfg::kSmemRowSum, valid = sb + Cfg::kSmemValid;

  int length = p.topk;
  if (p.topk_length != nullptr) length = min(length, max(0, __ldg(p.topk_length + s * p.stride_tl)));
  if (p.s_kv == 0) length = 0;
  const int steps = (length + kBlockN - 1) / kBlockN;
  const int32_t* idx_row = p.indices + s * p.stride_idx_s;

  if (steps > 0) {  // Q tile (zero rows past h_q) and step 0, one cp.async group
    const int row = tid / kThreadsPerRow, h = h0 + row;
    const bool hv = h < p.h_q;
    load_row<Cfg>(q_tile, row, tid % kThreadsPerRow, p.q + s * p.stride_q_s + (hv ? h : 0) * p.stride_q_h, hv);
    gather_step<Cfg>(p, idx_row, length, 0, k_tiles, valid, tid);
    ptx2::cp_async_commit();
  }

  float o[128];
#pragma unroll
  for (int i = 0; i < 128; ++i) o[i] = 0.0f;
  float m_run[2] = {-kInf, -kInf};  // running row max of the raw scores q.k (before sm_scale)
  float l_run[2] = {0.0f, 0.0f};    // this thread's share of the row sums, relative to m_run

  for (int b = 0; b < steps; ++b) {
    const int st = b & 1;
    const uint32_t k_tile = k_tiles + st * Cfg::kTileBytes;
    ptx2::cp_async_wait<0>();
    ptx::fence_proxy_async();  // cp.async writes (generic proxy) -> WGMMA reads (async proxy)
    __syncthreads();           // step b landed everywhere; step b - 1 is fully consumed
    if (b + 1 < steps) {
      gather_step<Cfg>(p, idx_row, length, b + 1, k_tiles + (st ^ 1) * Cfg::kTileBytes, valid + (st ^ 1) * kBlockN * 4,
                       tid);
      ptx2::cp_async_commit();
    }

    float sc[16];
#pragma unroll
    for (int i = 0; i < 16; ++i) sc[i] = 0.0f;
    scores<Cfg>(sc, q_tile, k_tile, c);

    // Mask (a select: a zero-filled row's score 0 must not count) and row maxima.
    float mx[2] = {-kInf, -kInf};
    const uint32_t vslot = valid + st * kBlockN * 4;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int col = c * kHalfN + 8 * j + 2 * tq + e;
        if (ptx2::ld_shared_u32(vslot + 4 * col) == 0u) {
          sc[4 * j + e] = -kInf;
          sc[4 * j + 2 + e] = -kInf;
        }
        mx[0] = fmaxf(mx[0], sc[4 * j + e]);
        mx[1] = fmaxf(mx[1], sc[4 * j + 2 + e]);
      }
    }
    mx[0] = dense::quad_max(mx[0]);
    mx[1] = dense::quad_max(mx[1]);
    if (tq == 0) {
      ptx::st_shared(row_max + 4 * (c * kBlockM + r0), mx[0]);
      ptx::st_shared(row_max + 4 * (c * kBlockM + r0 + 8), mx[1]);
    }
    __syncthreads();

    // Online softmax in the log2 domain; a row that has seen nothing keeps m = -inf and base 0.
    float m_new[2], base[2], f[2], psum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float other = ptx::ld_shared_f32(row_max + 4 * ((1 - c) * kBlockM + r0 + 8 * r));
      m_new[r] = fmaxf(m_run[r], fmaxf(mx[r], other));
      base[r] = m_new[r] == -kInf ? 0.0f : m_new[r] * p.scale_log2;
      f[r] = ptx::ex2(m_run[r] * p.scale_log2 - base[r]);
    }
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const float pr = ptx::ex2(fmaf(sc[i], p.scale_log2, -base[(i >> 1) & 1]));
      sc[i] = pr;
      psum[(i >> 1) & 1] += pr;
    }
    l_run[0] = l_run[0] * f[0] + psum[0];
    l_run[1] = l_run[1] * f[1] + psum[1];

    // P_c into columns [32c, 32c + 32) of the swizzled P tile: 16-byte chunk 4c + j of rows r0, r0 + 8.
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint32_t off = static_cast<uint32_t>(((4 * c + j) ^ (r0 & 7)) << 4) + 4 * tq;
      ptx::st_shared(p_tile + r0 * 128 + off, kernels::pack2<false>(sc[4 * j], sc[4 * j + 1]));
      ptx::st_shared(p_tile + (r0 + 8) * 128 + off, kernels::pack2<false>(sc[4 * j + 2], sc[4 * j + 3]));
    }
    ptx::fence_proxy_async();  // P is read by both warpgroups' WGMMA
    __syncthreads();

    dense::scale_rows(o, f[0], f[1]);  // skipped by warps whose factors are all exactly 1
    accumulate_pv(o, p_tile, k_tile, c);
    m_run[0] = m_new[0];
    m_run[1] = m_new[1];
  }

  // ---- epilogue: the two warpgroups' row sums, then O, max_logits, lse --------------------------------
  float l[2] = {dense::quad_sum(l_run[0]), dense::quad_sum(l_run[1])};
  if (tq == 0) {
    ptx::st_shared(row_sum + 4 * (c * kBlockM + r0), l[0]);
    ptx::st_shared(row_sum + 4 * (c * kBlockM + r0 + 8), l[1]);
  }
  __syncthreads();
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int h = h0 + r0 + 8 * r;
    if (h >= p.h_q) continue;
    const float lt = l[r] + ptx::ld_shared_f32(row_sum + 4 * ((1 - c) * kBlockM + r0 + 8 * r));
    const bool seen = lt > 0.0f;
    const float base = m_run[r] == -kInf ? 0.0f : m_run[r] * p.scale_log2;
    const float lse = seen ? (base + log2f(lt)) * kLn2 : kInf;
    float factor = 1.0f;
    if (p.attn_sink != nullptr && seen) factor = 1.0f / (1.0f + expf(__ldg(p.attn_sink + h * p.stride_sink) - lse));
    const float inv = seen ? factor / lt : 0.0f;
    uint16_t* dst = p.out + s * p.stride_o_s + h * p.stride_o_h + c * kHalfV + 2 * tq;
#pragma unroll
    for (int j = 0; j < 32; ++j)
      *reinterpret_cast<uint32_t*>(dst + 8 * j) = kernels::pack2<false>(o[4 * j + 2 * r] * inv, o[4 * j + 2 * r + 1] * inv);
    if (c == 0 && tq == 0) {
      p.max_logits[s * p.stride_ml_s + h * p.stride_ml_h] = seen ? m_run[r] * p.sm_scale : -kInf;
      p.lse[s * p.stride_lse_s + h * p.stride_lse_h] = lse;
    }
  }
}

}  // namespace flashmla::sm90::sparse_prefill
