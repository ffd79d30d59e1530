// Sparse top-k prefill kernel for sm_90a: out = softmax(sm_scale * Q K_idx^T) V_idx per query token.
//
// Grid: 1-D, s_q * G CTAs with G = ceil(h_q / 64) (s_q * h_q <= 2^31 - 1 is validated, so it fits).
// CTA x computes query token x / G, heads [64 (x % G), +64) (M = 64 rows; rows past h_q are zero Q rows
// whose results are never written), over the token's top-k positions in steps b of 64 gathered kv rows.
// The head groups of one token are adjacent CTAs: they run at the same time on neighbouring SMs, so the
// second gather of the same rows hits L2 even when kv is far larger than L2 (the previous (s_q, G) grid
// put them s_q CTAs apart), and consecutive tokens, whose top-k sets overlap, are neighbours too.
//
// Roles: 384 threads = three warpgroups, 1 CTA per SM.
//   WG2, producer (40 registers): loads Q once, then gathers the kv rows of step b into stage b % 2 with
//     16-byte cp.async (zero-fill for masked positions: the index is checked before the address is
//     formed, so no byte outside kv is ever read), writes the step's position-valid flags, and signals
//     full[b % 2] through cp.async.mbarrier.arrive.noinc; it refills a stage once empty[] says both
//     consumers are done with it.
//   WG0 / WG1, consumers (232 registers): the ping-pong of sparse_common/pingpong.cuh (shared with the
//     sparse decode): WG c owns O[:, 256c : 256c + 256] and alternately computes a whole step's scores,
//     softmax and P, which it publishes for the other consumer's P*V. Its top comment has the iteration.
// Epilogue: row sums exchanged between the consumers, O / l times the sink factor
// 1 / (1 + exp(sink - lse)) to bf16, max_logits = sm_scale * running max (kept on raw scores, so it is
// exactly the scaled maximum), lse = natural log.
//
// Shared memory (config.h), d_qk 576: Q 72 KB + 2 stages x 72 KB + P 8 KB + 1.7 KB of barriers, row
// arrays and flags = 226.7 KB with the alignment slack (d_qk 512: 201 KB).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>

#include "kernels/common/convert.cuh"
#include "kernels/sm90/ptx.cuh"
#include "kernels/sm90/sparse_common/pingpong.cuh"
#include "kernels/sm90/sparse_prefill/config.h"
#include "kernels/sm90/sparse_prefill/params.h"

namespace flashmla::sm90::sparse_prefill {

using sparse_common::Bars;
using sparse_common::kInf;
using sparse_common::kLn2;
using sparse_common::cp_async_row;

// ---- producer -----------------------------------------------------------------------------------------

// The index of position `pos`, or -1 when the position is past the length (never read then).
__device__ __forceinline__ int load_index(const SparsePrefillParams& p, const int32_t* idx_row, int length, int pos) {
  return pos < length ? __ldg(idx_row + static_cast<int64_t>(pos) * p.stride_idx_k) : -1;
}

template <class Cfg>
__device__ __forceinline__ void producer(const SparsePrefillParams& p, int64_t s, int h0, int length, int steps,
                                         uint32_t q_tile, uint32_t k_tiles, uint32_t valid_flags, Bars bars,
                                         int t) {
  const int sub = t % kProducerChunkLanes, rg = t / kProducerChunkLanes;
  const int32_t* idx_row = p.indices + s * p.stride_idx_s;
  // Q (zero rows past h_q), tracked by step 0's full barrier together with step 0's rows.
#pragma unroll
  for (int i = 0; i < kProducerRowsPerThread; ++i) {
    const int row = rg + kProducerRowGroups * i, h = h0 + row;
    const bool hv = h < p.h_q;
    cp_async_row<Cfg::kBoxes>(q_tile, row, sub, p.q + s * p.stride_q_s + (hv ? h : 0) * p.stride_q_h, hv);
  }
  int idx[kProducerRowsPerThread];
#pragma unroll
  for (int i = 0; i < kProducerRowsPerThread; ++i) idx[i] = load_index(p, idx_row, length, rg + kProducerRowGroups * i);
  for (int b = 0; b < steps; ++b) {
    const int st = b & 1;
    const uint32_t tile = k_tiles + st * Cfg::kTileBytes;
    if (b >= 2) ptx::mbar_wait(bars.empty(st), ((b >> 1) - 1) & 1);  // both consumers are done with step b - 2
#pragma unroll
    for (int i = 0; i < kProducerRowsPerThread; ++i) {
      const int row = rg + kProducerRowGroups * i;
      // A position is valid iff it is below `length` (topk clamped by topk_length) and its index is in
      // [0, s_kv); the address of an invalid one is never formed from its index.
      const bool valid = idx[i] >= 0 && static_cast<int64_t>(idx[i]) < p.s_kv;
      cp_async_row<Cfg::kBoxes>(tile, row, sub, p.kv + (valid ? static_cast<int64_t>(idx[i]) * p.stride_kv_s : 0), valid);
      if (sub == 0) sparse_common::st_shared_u8(valid_flags + st * kBlockN + row, valid ? 1u : 0u);
    }
    ptx::mbar_arrive(bars.full(st));  // release: the flags
    sparse_common::cp_async_mbar_arrive_noinc(bars.full(st));  // fires when this thread's cp.async have landed
    // Next step's indices now: their latency overlaps the wait for the stage to empty.
    if (b + 1 < steps) {
#pragma unroll
      for (int i = 0; i < kProducerRowsPerThread; ++i)
        idx[i] = load_index(p, idx_row, length, (b + 1) * kBlockN + rg + kProducerRowGroups * i);
    }
  }
  sparse_common::cp_async_commit();
  sparse_common::cp_async_wait<0>();  // nothing in flight when the thread exits
}

template <int kDQK>
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm)
    sparse_prefill_kernel(const __grid_constant__ SparsePrefillParams p) {
  using Cfg = Config<kDQK>;
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = ptx::align_1024(smem_raw);
  const uint32_t groups = static_cast<uint32_t>(p.head_groups);
  const int64_t s = blockIdx.x / groups;
  const int h0 = static_cast<int>(blockIdx.x % groups) * kBlockM;
  const int tid = threadIdx.x;

  const uint32_t sb = ptx::smem_addr(smem);
  const Bars bars{sb + Cfg::kSmemBars};

  int length = p.topk;
  if (p.topk_length != nullptr) length = min(length, max(0, __ldg(p.topk_length + s * p.stride_tl)));
  if (p.s_kv == 0) length = 0;
  const int steps = (length + kBlockN - 1) / kBlockN;

  if (tid == 0) sparse_common::init_bars<Cfg>(bars);
  __syncthreads();

  const int wg = tid / 128;
  if (wg == 2) {
    ptx::setmaxnreg_dec<kProducerRegs>();
    if (steps > 0)
      producer<Cfg>(p, s, h0, length, steps, sb + Cfg::kSmemQ, sb + Cfg::kSmemK, sb + Cfg::kSmemValid, bars,
                    tid - kConsumerThreads);
    return;
  }
  ptx::setmaxnreg_inc<kConsumerRegs>();

  const int c = wg, t = tid & 127, lane = tid & 31, tq = lane & 3;
  const int r0 = (t >> 5) * 16 + (lane >> 2);  // this thread's rows: r0, r0 + 8
  float o[128];
  float m_run[2];  // running row max of the raw scores q.k (before sm_scale)
  float l_run[2];
  sparse_common::consume<Cfg>(o, m_run, l_run, steps, c, t, p.scale_log2, sb, bars);

  // ---- epilogue: the two consumers' row sums, then O, max_logits, lse ---------------------------------
  float lsum[2];
  sparse_common::row_sums<Cfg>(l_run, c, t, sb, bars, lsum);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int h = h0 + r0 + 8 * r;
    if (h >= p.h_q) continue;
    const float lt = lsum[r];
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
