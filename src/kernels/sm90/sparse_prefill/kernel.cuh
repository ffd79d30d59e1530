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
//   WG0 / WG1, consumers (232 registers): WG c owns O[:, 256c : 256c + 256] (128 fp32 per thread) and
//     "owns" the steps b with b % 2 == c: for those it computes the full 64 x 64 score tile
//     S_b = Q K_b^T (WGMMA m64n64k16, Q and K from shared memory), the online softmax, and P_b, which it
//     keeps in registers for its own P*V (RS) and publishes in shared memory, with the row max m_b and
//     the rescale factor f_b, for the other consumer's P*V (SS) (barrier ready[b % 2]).
//   Iteration b of WG c (b = c, c + 2, ... <= steps):
//     (1) the other's step b - 1: wait ready, O *= f_{b-1}, issue O += P_{b-1} V_{b-1}[half c] (SS);
//     (2) own step b: wait full, issue S_b = Q K_b^T; the P*V of (1) completes first (wait_group 1):
//         release stage b - 1 (empty), then S_b completes;
//     (3) mask, row max against m_{b-1}, P_b, f_b; store P_b / m_b / f_b, arrive ready[b % 2];
//     (4) O *= f_b, O += P_b V_b[half c] (RS), wait, release stage b.
//   So while one consumer runs its softmax, the tensor cores run the other consumer's Q*K^T or P*V
//   (ping-pong), and each Q*K^T is a whole m64n64 tile: shared-memory traffic for Q*K^T is 144 KB per
//   step instead of 216 KB for the two m64n32 halves of the previous design (m64n32 with both operands
//   from shared memory is bound by shared-memory bandwidth, m64n64 is balanced).
//   The running max is a chain m_b = max(m_{b-1}, rowmax S_b) that alternates between the consumers; both
//   apply the same f_b to their O halves, and each keeps the row sum of its own steps (rescaled by
//   every f), added in the epilogue.
// Hand-offs are all mbarriers (producer -> consumers: full; consumers -> producer: empty; consumer ->
// consumer: ready, epilogue): compute-sanitizer racecheck has flagged named-barrier-only hand-offs in
// this repo. The single P buffer and the m/f slots (indexed by step parity) need no "free" barrier:
// the next writer of each is the warpgroup that last read it, after its reading WGMMA completed, and
// ready[] orders the writer behind the other consumer's reads (see the comments at each store).
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
#include "kernels/sm90/decode_dense_common/consumer.cuh"  // quad_max/sum, pack_p, scale_rows, store_p, issue_pv_rs/ss
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

// Shared-memory barrier addresses (8 bytes each).
struct Bars {
  uint32_t base;
  __device__ uint32_t full(int s) const { return base + 8 * s; }        // producer -> consumers, K stage s
  __device__ uint32_t empty(int s) const { return base + 16 + 8 * s; }  // consumers -> producer
  __device__ uint32_t ready(int s) const { return base + 32 + 8 * s; }  // owner of a step of parity s -> other
  __device__ uint32_t epilogue() const { return base + 48; }            // row sums, both consumers
};
constexpr uint32_t kFullCount = 2 * 128;  // per producer thread: one cp.async (noinc) + one flag arrival
// Every consumer thread, after its WGMMAs completed: each thread's arrival also releases its own reads of
// the stage's valid flags (which the producer rewrites next), so racecheck sees the WAR ordered.
constexpr uint32_t kEmptyCount = kConsumerThreads;
constexpr uint32_t kReadyCount = 128;     // every thread of the owning consumer (each releases its stores)
constexpr uint32_t kEpilogueCount = 256;

// ---- producer -----------------------------------------------------------------------------------------

// Chunk `sub` of each box of one 64-row tile row: channels 8 sub + 64 box .. +7. valid = false writes
// zeros and reads nothing.
template <class Cfg>
__device__ __forceinline__ void load_row_chunks(uint32_t tile, int row, int sub, const uint16_t* src, bool valid) {
  const uint32_t bytes = valid ? kChunkBytes : 0u;
  const uint32_t dst = tile + swizzled(row, sub);
#pragma unroll
  for (int box = 0; box < Cfg::kBoxes; ++box)
    ptx2::cp_async_16(dst + box * kBoxBytes, src + box * kBoxCols + sub * 8, bytes);
}

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
    load_row_chunks<Cfg>(q_tile, row, sub, p.q + s * p.stride_q_s + (hv ? h : 0) * p.stride_q_h, hv);
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
      load_row_chunks<Cfg>(tile, row, sub, p.kv + (valid ? static_cast<int64_t>(idx[i]) * p.stride_kv_s : 0), valid);
      if (sub == 0) ptx2::st_shared_u8(valid_flags + st * kBlockN + row, valid ? 1u : 0u);
    }
    ptx::mbar_arrive(bars.full(st));  // release: the flags
    ptx2::cp_async_mbar_arrive_noinc(bars.full(st));  // fires when this thread's cp.async have landed
    // Next step's indices now: their latency overlaps the wait for the stage to empty.
    if (b + 1 < steps) {
#pragma unroll
      for (int i = 0; i < kProducerRowsPerThread; ++i)
        idx[i] = load_index(p, idx_row, length, (b + 1) * kBlockN + rg + kProducerRowGroups * i);
    }
  }
  ptx2::cp_async_commit();
  ptx2::cp_async_wait<0>();  // nothing in flight when the thread exits
}

// ---- consumers ----------------------------------------------------------------------------------------

// S (64 x 64) = Q (64 x d) * K_b^T, both K-major 128B-swizzled boxes 8 KB apart. Committed, not waited.
template <class Cfg>
__device__ __forceinline__ void issue_qk(float (&sc)[32], uint32_t q_tile, uint32_t k_tile) {
  const uint64_t dq = ptx::desc_kmajor(q_tile), dk = ptx::desc_kmajor(k_tile);
  ptx::wgmma_fence();
#pragma unroll
  for (int box = 0; box < Cfg::kBoxes; ++box) {
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      const uint32_t off = box * kBoxBytes + kk * 32;
      wgmma_m64n64k16_ss<false, 0>(sc, ptx::desc_advance(dq, off), ptx::desc_advance(dk, off), (box | kk) != 0);
    }
  }
  ptx::wgmma_commit();
}

// O_c (64 x 256) += P (64 x 64) * V[:, 256c : 256c + 256] (boxes 4c..4c+3 of the stage, MN-major, the
// dense decode's layout): dense_common::issue_pv_ss (P from shared memory: the other consumer's step) and
// issue_pv_rs (P from registers: own step, the S accumulator layout is the A fragment layout).
static_assert(kBoxBytes == dense_common::kBoxBytes, "the P*V helpers assume the dense decode's 8 KB boxes");

// Masks the owner's scores (a select: a zero-filled row's score 0 must not count), then the online
// softmax in the log2 domain against the running max of the raw scores. A row that has seen nothing
// keeps m = -inf and base 0, so no inf - inf appears. Returns P packed as RS A fragments.
__device__ __forceinline__ void softmax_step(float (&sc)[32], uint32_t vslot, int tq, float scale_log2,
                                             const float (&m_prev)[2], float (&m_new)[2], float (&f)[2],
                                             float (&psum)[2], uint32_t (&pa)[16]) {
  float mx[2] = {-kInf, -kInf};
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const uint32_t v2 = ptx2::ld_shared_u16(vslot + 8 * j + 2 * tq);  // columns 8j + 2tq, +1
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      if (((v2 >> (8 * e)) & 0xFFu) == 0u) {
        sc[4 * j + e] = -kInf;
        sc[4 * j + 2 + e] = -kInf;
      }
      mx[0] = fmaxf(mx[0], sc[4 * j + e]);
      mx[1] = fmaxf(mx[1], sc[4 * j + 2 + e]);
    }
  }
  float base[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    m_new[r] = fmaxf(m_prev[r], dense_common::quad_max(mx[r]));
    base[r] = m_new[r] == -kInf ? 0.0f : m_new[r] * scale_log2;
    f[r] = ptx::ex2(m_prev[r] * scale_log2 - base[r]);
    psum[r] = 0.0f;
  }
#pragma unroll
  for (int i = 0; i < 32; ++i) {
    const float pr = ptx::ex2(fmaf(sc[i], scale_log2, -base[(i >> 1) & 1]));
    sc[i] = pr;
    psum[(i >> 1) & 1] += pr;
  }
  dense_common::pack_p<false>(sc, pa);
}

template <int kDQK>
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm)
    sparse_prefill_kernel(const __grid_constant__ SparsePrefillParams p) {
  using Cfg = Config<kDQK>;
  extern __shared__ uint8_t smem_raw[];
  uint8_t* smem = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(smem_raw) + 1023) & ~uintptr_t(1023));
  const uint32_t groups = static_cast<uint32_t>(p.head_groups);
  const int64_t s = blockIdx.x / groups;
  const int h0 = static_cast<int>(blockIdx.x % groups) * kBlockM;
  const int tid = threadIdx.x;

  const uint32_t sb = ptx::smem_addr(smem);
  const uint32_t q_tile = sb + Cfg::kSmemQ, k_tiles = sb + Cfg::kSmemK, p_tile = sb + Cfg::kSmemP;
  const uint32_t row_m = sb + Cfg::kSmemRowM, row_f = sb + Cfg::kSmemRowF, row_l = sb + Cfg::kSmemRowL;
  const uint32_t valid = sb + Cfg::kSmemValid;
  const Bars bars{sb + Cfg::kSmemBars};

  int length = p.topk;
  if (p.topk_length != nullptr) length = min(length, max(0, __ldg(p.topk_length + s * p.stride_tl)));
  if (p.s_kv == 0) length = 0;
  const int steps = (length + kBlockN - 1) / kBlockN;

  if (tid == 0) {
    for (int st = 0; st < Cfg::kStages; ++st) {
      ptx::mbar_init(bars.full(st), kFullCount);
      ptx::mbar_init(bars.empty(st), kEmptyCount);
      ptx::mbar_init(bars.ready(st), kReadyCount);
    }
    ptx::mbar_init(bars.epilogue(), kEpilogueCount);
    ptx::fence_barrier_init();
  }
  __syncthreads();

  const int wg = tid / 128;
  if (wg == 2) {
    ptx::setmaxnreg_dec<kProducerRegs>();
    if (steps > 0)
      producer<Cfg>(p, s, h0, length, steps, q_tile, k_tiles, valid, bars, tid - kConsumerThreads);
    return;
  }
  ptx::setmaxnreg_inc<kConsumerRegs>();

  const int c = wg, t = tid & 127, lane = tid & 31, tq = lane & 3;
  const int r0 = (t >> 5) * 16 + (lane >> 2);  // this thread's rows: r0, r0 + 8

  float o[128];
#pragma unroll
  for (int i = 0; i < 128; ++i) o[i] = 0.0f;
  float m_run[2] = {-kInf, -kInf};  // running row max of the raw scores q.k (before sm_scale)
  float l_run[2] = {0.0f, 0.0f};    // this thread's share of the row sums of this consumer's steps

  // (1) of iteration b: O *= f_{b-1}, issue O += P_{b-1} V_{b-1}[half c] (not waited).
  auto other_step = [&](int bp) {
    const int sp = bp & 1;
    const uint32_t par = (bp >> 1) & 1;
    ptx::mbar_wait(bars.ready(sp), par);  // P_{b-1}, m_{b-1}, f_{b-1} stored
    ptx::mbar_wait(bars.full(sp), par);   // complete already (the owner consumed it): acquire K_{b-1} here too
    ptx::fence_proxy_async();              // cp.async / st.shared (generic) -> this WGMMA's reads (async)
    float fp[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      m_run[r] = ptx::ld_shared_f32(row_m + 4 * (sp * kBlockM + r0 + 8 * r));
      fp[r] = ptx::ld_shared_f32(row_f + 4 * (sp * kBlockM + r0 + 8 * r));
      l_run[r] *= fp[r];
    }
    dense_common::scale_rows(o, fp[0], fp[1]);  // skipped by warps whose factors are all exactly 1
    dense_common::issue_pv_ss<false>(o, p_tile, k_tiles + sp * Cfg::kTileBytes, c);
  };
  // (2)-(4) of iteration b: this consumer's step b; kPrev: (1) was issued and is still in flight.
  auto own_step = [&](auto prev_tag, int b) {
    constexpr bool kPrev = decltype(prev_tag)::value;
    const int st = b & 1;
    const uint32_t k_tile = k_tiles + st * Cfg::kTileBytes;
    ptx::mbar_wait(bars.full(st), (b >> 1) & 1);
    ptx::fence_proxy_async();
    float sc[32];
#pragma unroll
    for (int i = 0; i < 32; ++i) sc[i] = 0.0f;
    issue_qk<Cfg>(sc, q_tile, k_tile);
    if constexpr (kPrev) {
      ptx::wgmma_wait<1>();  // the P*V of step b - 1 (older group) is complete: release its stage
      ptx::fence_regs(o);
      ptx::mbar_arrive(bars.empty(st ^ 1));
    }
    ptx::wgmma_wait<0>();
    ptx::fence_regs(sc);

    float m_new[2], f[2], psum[2];
    uint32_t pa[16];
    softmax_step(sc, valid + st * kBlockN, tq, p.scale_log2, m_run, m_new, f, psum, pa);
    l_run[0] = l_run[0] * f[0] + psum[0];
    l_run[1] = l_run[1] * f[1] + psum[1];

    // P_b, m_b, f_b for the other consumer. The previous contents (P_{b-1} read by this warpgroup's
    // WGMMA, complete above; m/f slot st of step b - 2, read by the other consumer before it arrived
    // on ready for step b - 1, which this warpgroup waited for) are no longer needed.
    dense_common::store_p(p_tile, pa, r0, tq);
    if (tq == 0) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        ptx::st_shared(row_m + 4 * (st * kBlockM + r0 + 8 * r), m_new[r]);
        ptx::st_shared(row_f + 4 * (st * kBlockM + r0 + 8 * r), f[r]);
      }
    }
    ptx::fence_proxy_async();  // P_b is read by the other consumer's WGMMA (async proxy)
    ptx::mbar_arrive(bars.ready(st));

    dense_common::scale_rows(o, f[0], f[1]);
    dense_common::issue_pv_rs<false>(o, pa, k_tile, c);
    ptx::wgmma_wait<0>();
    ptx::fence_regs(o);
    ptx::mbar_arrive(bars.empty(st));
    m_run[0] = m_new[0];
    m_run[1] = m_new[1];
  };

  // Iterations b = c, c + 2, ... <= steps; the first (b = 0: no previous step) and the last (b = steps:
  // no own step) are peeled so that the steady-state body has no data-dependent branch around an
  // in-flight WGMMA (ptxas would serialize every WGMMA: C7518).
  int b = c;
  if (c == 0 && steps > 0) {
    own_step(std::false_type{}, 0);
    b = 2;
  }
  for (; b < steps; b += 2) {  // b >= 1
    other_step(b - 1);
    own_step(std::true_type{}, b);
  }
  if (b == steps && b >= 1) {
    other_step(b - 1);
    ptx::wgmma_wait<0>();
    ptx::fence_regs(o);
    ptx::mbar_arrive(bars.empty((b - 1) & 1));
  }

  // ---- epilogue: the two consumers' row sums, then O, max_logits, lse ---------------------------------
  // Both consumers end with m_run = the last step's max (the owner computed it, the other read it).
  float l[2] = {dense_common::quad_sum(l_run[0]), dense_common::quad_sum(l_run[1])};
  if (tq == 0) {
    ptx::st_shared(row_l + 4 * (c * kBlockM + r0), l[0]);
    ptx::st_shared(row_l + 4 * (c * kBlockM + r0 + 8), l[1]);
  }
  ptx::mbar_arrive(bars.epilogue());  // release the stores; one phase per CTA
  ptx::mbar_wait(bars.epilogue(), 0);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int h = h0 + r0 + 8 * r;
    if (h >= p.h_q) continue;
    const float lt = l[r] + ptx::ld_shared_f32(row_l + 4 * ((1 - c) * kBlockM + r0 + 8 * r));
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
