// sm90 sparse top-k decode over an FP8 KV cache (V32 / MODEL1): a TMA-free, warp-specialized ping-pong
// of WGMMAs with the e4m3 -> bf16 dequantization on its producer warpgroup.
//
// Grid: one CTA per (request b, query token s, block of 64 query heads, split), flattened on gridDim.x
// as ((b * s_q + s) * ceil(h_q / 64) + head block) * num_splits + split (<= 2^31 - 1: no 65535 limit);
// the head blocks of one token are adjacent CTAs, so the second gather of the same tokens hits L2.
// Each CTA walks blocks [nb * split / n, nb * (split + 1) / n) of its request's list of nb 64-token
// blocks (main pool, then extra pool; nb from topk_length, read here, so the host needs no sync).
//   num_splits == 1 (the grid already fills the GPU: split_plan.h): the whole list; out / lse written
//     directly, sink applied; no workspace, no combine.
//   num_splits  > 1 (few CTAs, e.g. b 2, s_q 2, h_q 128 = 8 CTAs for 132 SMs): fp32 O / l and lse (no
//     sink) into partial slot b * n + split of the workspace; an empty or fully masked range writes
//     O = 0, lse = -inf (the combine gives it weight 0). CTA 0 also writes the combine's slot prefix
//     (i * n) and status word (0). The shared combine (kernels/common/combine.cu, launched right after)
//     merges the slots into out / lse and applies the sink factor once, on the merged lse.
//
// Roles: 384 threads = three warpgroups, 1 CTA per SM (config.h: registers, producer map).
//   WG2, producer (120 registers, producer.cuh): Q once, then per block the indices, the e4m3 bytes and
//     scales loaded into registers ahead of the stage's release, RoPE copied with cp.async, NoPE
//     dequantized into the stage's bf16 tile, valid flags, full[stage].
//   WG0 / WG1, consumers (192 registers, sparse_common/pingpong.cuh, shared with the sparse prefill):
//     WG c owns O[:, 256c : 256c + 256] and, for the blocks of its parity, S = Q K^T (m64n64k16, both
//     from shared memory), the online softmax and P, published for the other consumer's P*V (SS) while
//     it runs its own (RS). The K tile of a block is its V too (V = the first 512 channels).
// Epilogue (here): the two consumers' row sums, then out = O / l (x the sink factor) in bf16 and lse
// (natural log; +inf and out 0 for rows that saw no token), or the split's fp32 partial.
//
// Masking: a position counts iff pos < topk_length (clamped to [0, topk]) and 0 <= idx < num_tokens; the
// check runs before the address is formed; masked rows are zero in the K tile and their scores -inf.
// P is bf16 in both P*V WGMMAs (as in every Hopper MLA kernel), except on a CTA whose range is one block:
// there P = hi + lo in two bf16 WGMMAs (pingpong.cuh consume_single_exact; docs/sparse_decode.md "Accuracy").
//
// Shared memory (sparse_common/tiles.h): V32 Q 72 KB + 2 stages x 72 KB + P 8 KB + 1.7 KB = 226.7 KB with
// the alignment slack; MODEL1 201 KB.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/sm90/ptx.cuh"
#include "kernels/sm90/sparse_common/pingpong.cuh"
#include "kernels/sm90/sparse_decode/config.h"
#include "kernels/sm90/sparse_decode/dequant.cuh"
#include "kernels/sm90/sparse_decode/params.h"
#include "kernels/sm90/sparse_decode/producer.cuh"

namespace flashmla::sm90::sparse_decode {

__device__ __forceinline__ int32_t valid_length(const PoolParams& pool, int64_t b) {
  if (pool.topk == 0) return 0;
  if (pool.topk_length == nullptr) return pool.topk;
  const int32_t n = pool.topk_length[b * pool.stride_topk_length_b];
  return n < 0 ? 0 : (n > pool.topk ? pool.topk : n);
}

template <class Fmt>
__global__ void __launch_bounds__(kThreads, sparse_common::kMinBlocksPerSm)
    sparse_decode_kernel(const __grid_constant__ SparseDecodeParams p) {
  using Cfg = Config<Fmt>;
  using sparse_common::kInf;
  using sparse_common::kLn2;
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = ptx::align_1024(smem_raw);
  const int tid = threadIdx.x;

  const int64_t item = blockIdx.x / p.num_splits;
  const int split = static_cast<int>(blockIdx.x % p.num_splits);
  const int hb = static_cast<int>(item % p.num_head_blocks);
  const int64_t bs = item / p.num_head_blocks;
  const int64_t b = bs / p.s_q, s = bs % p.s_q;
  const int h0 = hb * kHeadsPerCta;

  BlockList bl;
  bl.n_main = valid_length(p.pools[0], b);
  bl.n_extra = valid_length(p.pools[1], b);
  bl.blocks_main = (bl.n_main + kTokensPerBlock - 1) / kTokensPerBlock;
  const int num_blocks = bl.blocks_main + (bl.n_extra + kTokensPerBlock - 1) / kTokensPerBlock;
  // This split's range of blocks (the whole list when num_splits == 1); may be empty.
  const int blk_begin = static_cast<int>(int64_t{num_blocks} * split / p.num_splits);
  const int blk_end = static_cast<int>(int64_t{num_blocks} * (split + 1) / p.num_splits);
  const int steps = blk_end - blk_begin;
  if (p.num_splits > 1 && blockIdx.x == 0) {  // the combine's slot table (read after this grid completes)
    for (int i = tid; i <= p.batch; i += kThreads) p.split_prefix[i] = i * p.num_splits;
    if (tid == 0) *p.split_status = 0;
  }

  const uint32_t sb = ptx::smem_addr(smem);
  const sparse_common::Bars bars{sb + Cfg::kSmemBars};
  if (tid == 0) sparse_common::init_bars<Cfg>(bars);
  __syncthreads();

  const int wg = tid / 128;
  if (wg == 2) {
    ptx::setmaxnreg_dec<kProducerRegs>();
    if (steps > 0) producer<Fmt>(p, b, s, h0, bl, blk_begin, steps, sb, bars, tid - kConsumerThreads);
    return;
  }
  ptx::setmaxnreg_inc<kConsumerRegs>();

  const int c = wg, t = tid & 127, lane = tid & 31, tq = lane & 3;
  const int r0 = (t >> 5) * 16 + (lane >> 2);  // this thread's rows: r0, r0 + 8
  float o[128];
  float m_run[2];  // running row max of the raw scores q.k (before the softmax scale)
  float l_run[2];
  sparse_common::consume<Cfg, /*kExactSingle=*/true>(o, m_run, l_run, steps, c, t, p.scale_log2, sb, bars);
  float lsum[2];
  sparse_common::row_sums<Cfg>(l_run, c, t, sb, bars, lsum);

  // ---- epilogue ----
  const bool partial = p.num_splits > 1;
  const int64_t slot_row0 = ((b * p.num_splits + split) * p.s_q + s) * p.h_q;  // partial rows of this CTA
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int h = h0 + r0 + 8 * r;
    if (h >= p.h_q) continue;
    const float lt = lsum[r];
    const bool seen = lt > 0.0f;
    const float base = m_run[r] == -kInf ? 0.0f : m_run[r] * p.scale_log2;
    const float lse2 = base + log2f(lt);  // log2 of the row's sum of exp, valid when seen
    if (partial) {
      // O / l in fp32 and lse; a split that saw nothing writes O = 0 (o is 0: masked rows are zero and
      // weigh 0) and lse = -inf. No sink here: the combine applies it to the merged lse.
      const float inv = seen ? 1.0f / lt : 0.0f;
      float* dst = p.partial_o + (slot_row0 + h) * kvfmt::kHeadDimV + c * kHalfV + 2 * tq;
#pragma unroll
      for (int j = 0; j < 32; ++j)
        *reinterpret_cast<float2*>(dst + 8 * j) = make_float2(o[4 * j + 2 * r] * inv, o[4 * j + 2 * r + 1] * inv);
      if (c == 0 && tq == 0) p.partial_lse[slot_row0 + h] = seen ? lse2 * kLn2 : -kInf;
    } else {
      const float lse = seen ? lse2 * kLn2 : kInf;
      float inv = seen ? 1.0f / lt : 0.0f;
      if (seen && p.attn_sink != nullptr) inv /= 1.0f + expf(p.attn_sink[h * p.stride_attn_sink_h] - lse);
      uint16_t* dst = p.out + b * p.stride_out_b + s * p.stride_out_s + h * p.stride_out_h + c * kHalfV + 2 * tq;
#pragma unroll
      for (int j = 0; j < 32; ++j)
        *reinterpret_cast<uint32_t*>(dst + 8 * j) = pack_bf16x2(o[4 * j + 2 * r] * inv, o[4 * j + 2 * r + 1] * inv);
      if (c == 0 && tq == 0) p.lse[b * p.stride_lse_b + h * p.stride_lse_h + s * p.stride_lse_s] = lse;
    }
  }
}

}  // namespace flashmla::sm90::sparse_decode
