// sm90 sparse top-k decode over an FP8 KV cache (V32 / MODEL1), correctness-first design.
//
// Grid: one CTA per (request b, query token s, block of 64 query heads, split), flattened on gridDim.x
// as ((b * s_q + s) * ceil(h_q / 64) + head block) * num_splits + split (<= 2^31 - 1: no 65535 limit).
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
// Threads: 256 = 8 warps (two warpgroups with the same code: no warp specialization), all doing every
// role in turn. Warp w owns query-head rows 16 (w % 4) ..+16 of the CTA and value columns 256 (w / 4) ..+256:
//   S  = Q K^T  rows 16 (w % 4), tokens 32 (w / 4) ..+32 of the block    (mma.sync m16n8k16, bf16 -> fp32)
//   online softmax: row max exchanged with the partner warp (same rows, other tokens) through smem
//   P  written to smem as two bf16 tiles, hi = bf16(P) and lo = bf16(P - hi), so the partner sees all
//      64 tokens and P V carries P to ~2^-17 (a single bf16 P fails out's 1e-3 for topk 3; split_bf16x2)
//   O += P_hi V + P_lo V  rows 16 (w % 4), columns 256 (w / 4) ..+256      (128 fp32 accumulators / thread)
// Per iteration (block j of 64 tokens):
//   wait cp.async(j); sync | dequantize raw(j) -> K tile (bf16); threads 0..63 resolve block j+1's
//   indices to token addresses (masked entries -> null, never dereferenced) | sync | cp.async raw(j+1)
//   (zero-filled for masked tokens; 16-byte pieces, or 8-byte ones for a pool whose base or page stride
//   is only 8-aligned, e.g. MODEL1 with an odd page size) | S, softmax, P | pair barrier | P V.
// So the gather of block j+1 overlaps the MMAs of block j; dequantization does not overlap the MMAs.
//
// Why mma.sync and not WGMMA: correctness first without a GPU to test on. mma.sync fragments are
// register-level and documented element by element, need no shared-memory matrix descriptors,
// swizzle or async-proxy fences, and let a warp own an arbitrary (16-row, 256-column) piece of O.
// Its cost is about half of WGMMA's peak rate and ldmatrix traffic (docs/sparse_decode.md, estimates).
//
// Budgets: smem (config.h Plan) V32 207.5 KB, MODEL1 187.5 KB -> 1 CTA / SM; registers ~ 128 O + 16 S +
// fragments: V32 245, MODEL1 239 (ptxas -v, nvcc 13.0; docs/sparse_decode.md), no spills (-Werror). The P V
// k-step loop is not unrolled: unrolled, ptxas hoists the P_lo / V fragments of 4 k-steps and spills.
//
// Masking: an index position counts iff pos < topk_length (clamped to [0, topk]) and 0 <= idx <
// num_tokens; the check runs before the address is formed; masked tokens are zero-filled in smem and
// their scores are -inf. Rows that see no token: out = 0, lse = +inf.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/sm90/ptx.cuh"
#include "kernels/sm90/sparse_decode/config.h"
#include "kernels/sm90/sparse_decode/params.h"
#include "kernels/sm90/sparse_decode/ptx_sync.cuh"

namespace flashmla::sm90::sparse_decode {

namespace detail {

constexpr float kLn2 = 0.6931471805599453f;

__device__ __forceinline__ int32_t valid_length(const PoolParams& pool, int64_t b) {
  if (pool.topk == 0) return 0;
  if (pool.topk_length == nullptr) return pool.topk;
  const int32_t n = pool.topk_length[b * pool.stride_topk_length_b];
  return n < 0 ? 0 : (n > pool.topk ? pool.topk : n);
}

// Threads 0..63: token t of block `blk` -> the byte address of its data (null if masked), valid flag.
template <class Fmt>
__device__ __forceinline__ void resolve_block(const SparseDecodeParams& p, int64_t b, int64_t s, int blk,
                                              int blocks_main, int n_main, int n_extra, int t,
                                              const uint8_t** tok_ptr, int32_t* valid) {
  const bool extra = blk >= blocks_main;
  const PoolParams& pool = p.pools[extra ? 1 : 0];
  const int32_t pos = (extra ? blk - blocks_main : blk) * kTokensPerBlock + t;
  const int32_t n = extra ? n_extra : n_main;
  const uint8_t* ptr = nullptr;
  if (pos < n) {
    const int32_t idx =
        pool.indices[b * pool.stride_indices_b + s * pool.stride_indices_s + pos * pool.stride_indices_k];
    if (idx >= 0 && static_cast<int64_t>(idx) < pool.num_tokens) {  // mask before forming the address
      const int64_t page = idx / pool.page_size, row = idx % pool.page_size;
      ptr = pool.cache + page * pool.page_stride + Fmt::data_offset(pool.page_size, row);
      if constexpr (Fmt::kFormat == KvFormat::kSparseModel1) {
        // The scale row sits after the page's data rows; keep its address in the second half.
        tok_ptr[kTokensPerBlock + t] = pool.cache + page * pool.page_stride + Fmt::scale_offset(pool.page_size, row);
      }
    }
  }
  tok_ptr[t] = ptr;
  valid[t] = ptr != nullptr;
}

// One cp.async piece of kBytes (16: .cg, 8: .ca), zero-filled (nothing read) when src is null.
template <int kBytes>
__device__ __forceinline__ void cp_async_piece(uint32_t dst, const uint8_t* src, const void* dummy) {
  static_assert(kBytes == 16 || kBytes == 8, "cp.async piece size");
  if constexpr (kBytes == 16) ptx2::cp_async_16(dst, src ? src : dummy, src ? 16 : 0);
  else ptx2::cp_async_8(dst, src ? src : dummy, src ? 8 : 0);
}

// All threads: cp.async of the raw bytes of the 64 tokens whose addresses tok_ptr holds, in pieces of
// kPiece bytes: 16 when the pool's base and page stride are multiples of 16 (every token row then is:
// 656 = 41 x 16, 576 = 36 x 16), else 8 (MODEL1 pages of odd size: page * 584 is only 8-aligned).
// Both the raw smem rows and all in-row offsets are multiples of 16, so only the global side differs.
template <class Fmt>
constexpr int contiguous_row_bytes() {  // bytes of a token that are contiguous in the cache
  if constexpr (Fmt::kFormat == KvFormat::kSparseModel1) return Fmt::kDataRowBytes;  // + a separate scale row
  else return Fmt::kBytesPerToken;
}
template <class Fmt, int kPiece>
__device__ __forceinline__ void gather_pieces(const uint8_t* const* tok_ptr, uint32_t raw, const void* dummy, int tid) {
  using P = Plan<Fmt>;
  constexpr bool kModel1 = Fmt::kFormat == KvFormat::kSparseModel1;
  constexpr int kRowBytes = contiguous_row_bytes<Fmt>();
  static_assert(kRowBytes % kPiece == 0, "token rows split into whole pieces");
  constexpr int kDataPieces = kRowBytes / kPiece;
  constexpr int kPieces = kDataPieces + (kModel1 ? 1 : 0);  // MODEL1: + the 8-byte scale row
  for (int c = tid; c < kTokensPerBlock * kPieces; c += kThreads) {
    const int t = c / kPieces, piece = c % kPieces;
    const uint8_t* src = tok_ptr[t];
    const uint32_t dst = raw + t * P::kRawRowBytes + piece * kPiece;
    if (piece < kDataPieces) cp_async_piece<kPiece>(dst, src ? src + piece * kPiece : nullptr, dummy);
    else cp_async_piece<8>(dst, src ? tok_ptr[kTokensPerBlock + t] : nullptr, dummy);  // at kRowBytes
  }
}
template <class Fmt>
__device__ __forceinline__ void issue_gather(const uint8_t* const* tok_ptr, uint32_t raw, const void* dummy, int tid,
                                             bool narrow) {
  if (narrow) gather_pieces<Fmt, 8>(tok_ptr, raw, dummy, tid);  // uniform branch: one pool per block
  else gather_pieces<Fmt, 16>(tok_ptr, raw, dummy, tid);
}

// p (fp32, >= 0) -> hi = bf16(p), lo = bf16(p - hi) (p - hi is exact in fp32), for a pair of columns.
// P V runs twice, with hi and lo: P is then carried to ~2^-17 relative instead of bf16's 2^-9. With a
// single bf16 P, few keys of near-equal weight and values that cancel (e.g. topk 3, |v| ~ 1), the
// rounding of P alone moves out by > 1e-3 (docs/sparse_decode.md, "Accuracy").
__device__ __forceinline__ void split_bf16x2(float p0, float p1, uint32_t* hi, uint32_t* lo) {
  *hi = ptx2::pack_bf16x2(p0, p1);
  *lo = ptx2::pack_bf16x2(p0 - __uint_as_float(*hi << 16), p1 - __uint_as_float(*hi & 0xffff0000u));
}

// All threads: raw fp8 tokens -> bf16 K tile. NoPE pieces: 16 e4m3 -> 16 bf16 = bf16(e4m3 * scale)
// (e4m3 -> f16 and f16 -> f32 are exact, the fp32 product of a 4-bit and an 8-bit significand is exact,
// so the one rounding is the final one, as in the CPU reference). RoPE pieces: copied.
template <class Fmt>
__device__ __forceinline__ void dequantize_block(const uint8_t* raw, uint8_t* k, int tid) {
  using P = Plan<Fmt>;
  for (int i = tid; i < kTokensPerBlock * P::kConvertItems; i += kThreads) {
    const int t = i / P::kConvertItems, piece = i % P::kConvertItems;
    const uint8_t* src_row = raw + t * P::kRawRowBytes;
    uint8_t* dst_row = k + t * P::kRowBytes;
    if (piece < P::kNopeChunks) {
      float scale;
      if constexpr (Fmt::kFormat == KvFormat::kSparseV32) {
        const float s = *reinterpret_cast<const float*>(src_row + Fmt::kScaleOffset + 4 * (piece * 16 / Fmt::kTile));
        scale = ptx2::bf16_round(s);  // upstream rounds the fp32 scale to bf16 first
      } else {
        const uint32_t e = src_row[Fmt::kDataRowBytes + piece * 16 / Fmt::kTile];
        scale = e == 0xff ? __uint_as_float(0x7fc00000u) : __uint_as_float(e == 0 ? 0x00400000u : e << 23);
      }
      const uint4 v = *reinterpret_cast<const uint4*>(src_row + Fmt::kNopeOffset + piece * 16);
      const uint32_t w[4] = {v.x, v.y, v.z, v.w};
      uint32_t o[8];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const uint32_t lo = ptx2::e4m3x2_to_f16x2(static_cast<uint16_t>(w[j] & 0xffffu));
        const uint32_t hi = ptx2::e4m3x2_to_f16x2(static_cast<uint16_t>(w[j] >> 16));
        o[2 * j] = ptx2::pack_bf16x2(ptx2::f16_lo_to_f32(lo) * scale, ptx2::f16_hi_to_f32(lo) * scale);
        o[2 * j + 1] = ptx2::pack_bf16x2(ptx2::f16_lo_to_f32(hi) * scale, ptx2::f16_hi_to_f32(hi) * scale);
      }
      uint4* dst = reinterpret_cast<uint4*>(dst_row + piece * 32);
      dst[0] = make_uint4(o[0], o[1], o[2], o[3]);
      dst[1] = make_uint4(o[4], o[5], o[6], o[7]);
    } else {
      const int r = piece - P::kNopeChunks;
      *reinterpret_cast<uint4*>(dst_row + Fmt::kNopeDim * 2 + r * 16) =
          *reinterpret_cast<const uint4*>(src_row + Fmt::kRopeOffset + r * 16);
    }
  }
}

}  // namespace detail

template <class Fmt>
__global__ void __launch_bounds__(kThreads, 1) sparse_decode_kernel(const __grid_constant__ SparseDecodeParams p) {
  using P = Plan<Fmt>;
  extern __shared__ __align__(1024) uint8_t smem[];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int rg = warp & 3, half = warp >> 2;  // row group (16 heads), column half / token half
  const int g = lane >> 2, tq = lane & 3;     // mma fragment row and column-pair of this lane

  const int64_t item = blockIdx.x / p.num_splits;
  const int split = static_cast<int>(blockIdx.x % p.num_splits);
  const int hb = static_cast<int>(item % p.num_head_blocks);
  const int64_t bs = item / p.num_head_blocks;
  const int64_t b = bs / p.s_q, s = bs % p.s_q;

  uint8_t* k_tile = smem + P::kKOffset;
  uint8_t* raw = smem + P::kRawOffset;
  const uint8_t** tok_ptr = reinterpret_cast<const uint8_t**>(smem + P::kTokPtrOffset);
  int32_t* valid = reinterpret_cast<int32_t*>(smem + P::kValidOffset);  // [2][64], by block parity
  float* red_max = reinterpret_cast<float*>(smem + P::kRedMaxOffset);  // [2 halves][64 rows]
  float* red_sum = reinterpret_cast<float*>(smem + P::kRedSumOffset);
  const uint32_t s_q_tile = ptx::smem_addr(smem + P::kQOffset);
  const uint32_t s_k_tile = ptx::smem_addr(k_tile);
  const uint32_t s_raw = ptx::smem_addr(raw);
  const uint32_t s_p_tile = ptx::smem_addr(smem + P::kPOffset);

  const int32_t n_main = detail::valid_length(p.pools[0], b);
  const int32_t n_extra = detail::valid_length(p.pools[1], b);
  const int blocks_main = (n_main + kTokensPerBlock - 1) / kTokensPerBlock;
  const int num_blocks = blocks_main + (n_extra + kTokensPerBlock - 1) / kTokensPerBlock;
  // This split's range of blocks (the whole list when num_splits == 1); may be empty.
  const int blk_begin = static_cast<int>(int64_t{num_blocks} * split / p.num_splits);
  const int blk_end = static_cast<int>(int64_t{num_blocks} * (split + 1) / p.num_splits);
  if (p.num_splits > 1 && blockIdx.x == 0) {  // the combine's slot table (read after this grid completes)
    for (int i = tid; i <= p.batch; i += kThreads) p.split_prefix[i] = i * p.num_splits;
    if (tid == 0) *p.split_status = 0;
  }

  // ---- prologue: Q tile (rows past h_q zero-filled), block 0's gather ----
  const int h0 = hb * kHeadsPerCta;
  {
    const uint16_t* q_base = p.q + b * p.stride_q_b + s * p.stride_q_s;
    for (int c = tid; c < kHeadsPerCta * P::kQChunks; c += kThreads) {
      const int r = c / P::kQChunks, piece = c % P::kQChunks;
      const bool ok = h0 + r < p.h_q;
      const uint16_t* src = ok ? q_base + (h0 + r) * p.stride_q_h + piece * 8 : p.q;
      ptx2::cp_async_16(s_q_tile + r * P::kRowBytes + piece * 16, src, ok ? 16 : 0);
    }
  }
  if (blk_begin < blk_end) {
    if (tid < kTokensPerBlock)
      detail::resolve_block<Fmt>(p, b, s, blk_begin, blocks_main, n_main, n_extra, tid, tok_ptr,
                                 valid + (blk_begin & 1) * kTokensPerBlock);
    __syncthreads();
    detail::issue_gather<Fmt>(tok_ptr, s_raw, p.q, tid, p.pools[blk_begin < blocks_main ? 0 : 1].narrow);
  }
  ptx2::cp_async_commit();

  float o[kHalfV / 8][4];
#pragma unroll
  for (int j = 0; j < kHalfV / 8; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
  float m_run[2] = {-INFINITY, -INFINITY};  // running max (log2 domain) of rows g, g + 8
  float l_run[2] = {0.0f, 0.0f};            // this thread's share of the running sums
  const int row0 = rg * 16 + g;             // CTA-local rows of this lane: row0, row0 + 8

  for (int blk = blk_begin; blk < blk_end; ++blk) {
    ptx2::cp_async_wait_all();
    __syncthreads();  // raw(blk) landed everywhere; every warp is past P V of blk - 1 (K tile free)
    detail::dequantize_block<Fmt>(raw, k_tile, tid);
    if (blk + 1 < blk_end && tid < kTokensPerBlock)
      detail::resolve_block<Fmt>(p, b, s, blk + 1, blocks_main, n_main, n_extra, tid, tok_ptr,
                                 valid + ((blk + 1) & 1) * kTokensPerBlock);
    __syncthreads();  // K tile ready, raw free, block blk + 1 resolved
    if (blk + 1 < blk_end)
      detail::issue_gather<Fmt>(tok_ptr, s_raw, p.q, tid, p.pools[blk + 1 < blocks_main ? 0 : 1].narrow);
    ptx2::cp_async_commit();

    // ---- S = Q K^T: rows 16 rg.., tokens 32 half.. ----
    float sacc[4][4];
#pragma unroll
    for (int j = 0; j < 4; ++j) sacc[j][0] = sacc[j][1] = sacc[j][2] = sacc[j][3] = 0.0f;
    const uint32_t a_addr = s_q_tile + (rg * 16 + (lane & 15)) * P::kRowBytes + (lane >> 4) * 16;
    const uint32_t b_addr =
        s_k_tile + (half * 32 + (lane & 7) + ((lane >> 4) << 3)) * P::kRowBytes + ((lane >> 3) & 1) * 16;
#pragma unroll 4
    for (int ks = 0; ks < P::kDimQK / 16; ++ks) {
      uint32_t a[4], b0[4], b1[4];
      ptx2::ldmatrix_x4(a_addr + ks * 32, a);
      ptx2::ldmatrix_x4(b_addr + ks * 32, b0);
      ptx2::ldmatrix_x4(b_addr + 16 * P::kRowBytes + ks * 32, b1);
      ptx2::mma_bf16_16816(sacc[0], a, b0[0], b0[1]);
      ptx2::mma_bf16_16816(sacc[1], a, b0[2], b0[3]);
      ptx2::mma_bf16_16816(sacc[2], a, b1[0], b1[1]);
      ptx2::mma_bf16_16816(sacc[3], a, b1[2], b1[3]);
    }

    // ---- online softmax (log2 domain) ----
    const int32_t* vb = valid + (blk & 1) * kTokensPerBlock;
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int tok = half * 32 + j * 8 + 2 * tq + (e & 1);
        const float v = vb[tok] ? sacc[j][e] * p.scale_log2 : -INFINITY;
        sacc[j][e] = v;
        mx[e >> 1] = fmaxf(mx[e >> 1], v);
      }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    }
    if (tq == 0) {
      red_max[half * kHeadsPerCta + row0] = mx[0];
      red_max[half * kHeadsPerCta + row0 + 8] = mx[1];
    }
    ptx::bar_sync(1 + rg, 64);  // the two warps of this row group
    float alpha[2], m_use[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float other = red_max[(1 - half) * kHeadsPerCta + row0 + 8 * r];
      const float m_new = fmaxf(m_run[r], fmaxf(mx[r], other));
      m_use[r] = m_new == -INFINITY ? 0.0f : m_new;  // no valid token yet: avoid (-inf) - (-inf)
      alpha[r] = ptx::ex2(m_run[r] - m_use[r]);
      m_run[r] = m_new;
      l_run[r] *= alpha[r];
    }
    uint8_t* p_tile = smem + P::kPOffset;
    uint8_t* p_lo_tile = smem + P::kPLoOffset;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float p0 = ptx::ex2(sacc[j][0] - m_use[0]), p1 = ptx::ex2(sacc[j][1] - m_use[0]);
      const float p2 = ptx::ex2(sacc[j][2] - m_use[1]), p3 = ptx::ex2(sacc[j][3] - m_use[1]);
      l_run[0] += p0 + p1;
      l_run[1] += p2 + p3;
      const int col = half * 32 + j * 8 + 2 * tq;
      uint32_t hi, lo;
      detail::split_bf16x2(p0, p1, &hi, &lo);
      *reinterpret_cast<uint32_t*>(p_tile + row0 * P::kPRowBytes + col * 2) = hi;
      *reinterpret_cast<uint32_t*>(p_lo_tile + row0 * P::kPRowBytes + col * 2) = lo;
      detail::split_bf16x2(p2, p3, &hi, &lo);
      *reinterpret_cast<uint32_t*>(p_tile + (row0 + 8) * P::kPRowBytes + col * 2) = hi;
      *reinterpret_cast<uint32_t*>(p_lo_tile + (row0 + 8) * P::kPRowBytes + col * 2) = lo;
    }
#pragma unroll
    for (int j = 0; j < kHalfV / 8; ++j) {
      o[j][0] *= alpha[0];
      o[j][1] *= alpha[0];
      o[j][2] *= alpha[1];
      o[j][3] *= alpha[1];
    }
    ptx::bar_sync(1 + rg, 64);  // both halves of P written

    // ---- O += P V: rows 16 rg.., columns 256 half.. ----
    const uint32_t pa_addr = s_p_tile + (rg * 16 + (lane & 15)) * P::kPRowBytes + (lane >> 4) * 16;
    const uint32_t v_addr =
        s_k_tile + ((lane & 7) + ((lane >> 3) & 1) * 8) * P::kRowBytes + (half * kHalfV + (lane >> 4) * 8) * 2;
#pragma unroll 1  // see Budgets: unrolling this loop spills
    for (int ks = 0; ks < kTokensPerBlock / 16; ++ks) {
      uint32_t a[4], a_lo[4];
      ptx2::ldmatrix_x4(pa_addr + ks * 32, a);
      ptx2::ldmatrix_x4(pa_addr + (P::kPLoOffset - P::kPOffset) + ks * 32, a_lo);
#pragma unroll
      for (int np = 0; np < kHalfV / 16; ++np) {
        uint32_t v[4];
        ptx2::ldmatrix_x4_trans(v_addr + ks * 16 * P::kRowBytes + np * 32, v);
        ptx2::mma_bf16_16816(o[2 * np], a, v[0], v[1]);
        ptx2::mma_bf16_16816(o[2 * np + 1], a, v[2], v[3]);
        ptx2::mma_bf16_16816(o[2 * np], a_lo, v[0], v[1]);
        ptx2::mma_bf16_16816(o[2 * np + 1], a_lo, v[2], v[3]);
      }
    }
  }

  ptx2::cp_async_wait_all();  // nothing may be in flight at exit (Q's copies when the list is empty)

  // ---- epilogue: full row sums, out = O / l (x sink factor), lse ----
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 1);
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 2);
  }
  if (tq == 0) {
    red_sum[half * kHeadsPerCta + row0] = l_run[0];
    red_sum[half * kHeadsPerCta + row0 + 8] = l_run[1];
  }
  ptx::bar_sync(1 + rg, 64);
  if (p.num_splits > 1) {
    // Partial slot: O / l in fp32 and lse; a split that saw nothing writes O = 0 (o is 0: masked tokens
    // are zero-filled and weigh 0) and lse = -inf. No sink here: the combine applies it to the merged lse.
    const int64_t slot_row0 = ((b * p.num_splits + split) * p.s_q + s) * p.h_q;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int h = h0 + row0 + 8 * r;
      const float l = l_run[r] + red_sum[(1 - half) * kHeadsPerCta + row0 + 8 * r];
      const bool seen = l > 0.0f;
      const float f = seen ? 1.0f / l : 0.0f;
      if (h < p.h_q) {
        float* orow = p.partial_o + (slot_row0 + h) * kvfmt::kHeadDimV + half * kHalfV + 2 * tq;
#pragma unroll
        for (int j = 0; j < kHalfV / 8; ++j)
          *reinterpret_cast<float2*>(orow + j * 8) = make_float2(o[j][2 * r] * f, o[j][2 * r + 1] * f);
        if (half == 0 && tq == 0)
          p.partial_lse[slot_row0 + h] = seen ? (m_run[r] + log2f(l)) * detail::kLn2 : -INFINITY;
      }
    }
    return;
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int h = h0 + row0 + 8 * r;
    const float l = l_run[r] + red_sum[(1 - half) * kHeadsPerCta + row0 + 8 * r];
    const bool seen = l > 0.0f;
    const float lse = seen ? (m_run[r] + log2f(l)) * detail::kLn2 : INFINITY;
    float f = seen ? 1.0f / l : 0.0f;
    if (seen && p.attn_sink != nullptr && h < p.h_q)
      f /= 1.0f + expf(p.attn_sink[h * p.stride_attn_sink_h] - lse);
    if (h < p.h_q) {
      uint16_t* orow = p.out + b * p.stride_out_b + s * p.stride_out_s + h * p.stride_out_h + half * kHalfV + 2 * tq;
#pragma unroll
      for (int j = 0; j < kHalfV / 8; ++j)
        *reinterpret_cast<uint32_t*>(orow + j * 8) = ptx2::pack_bf16x2(o[j][2 * r] * f, o[j][2 * r + 1] * f);
      if (half == 0 && tq == 0) p.lse[b * p.stride_lse_b + h * p.stride_lse_h + s * p.stride_lse_s] = lse;
    }
  }
}

}  // namespace flashmla::sm90::sparse_decode
