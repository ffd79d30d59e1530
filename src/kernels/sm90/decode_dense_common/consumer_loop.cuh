// The consumer warpgroups' side of both dense decode split kernels on sm_90a (the bf16/fp16 one,
// decode_dense/kernel.cuh, and the FP8-cache one, decode_dense_fp8/kernel.cuh): the two-consumer
// "seesaw" over pairs of pages (A, B), the chunk epilogue and the final barrier, written once.
// decode_dense/kernel.cuh's top comment describes the roles and the hand-offs.
//
// The kernel supplies a policy K (static members only; everything inlines):
//   K::issue_qk(s, q, k, qr, full, ph) S = Q K^T of one page, waiting on the page's full barriers
//   K::load_q_rope(qr, p, req, rows, tq)  Q's RoPE channels as WGMMA A fragments
//   K::scale(p, sbase)                the softmax scale in the log2 domain (a parameter, or smem)
//   K::wait_other_page(bars, st, first_box, ph)  waits on the other consumer's page before a P*V that
//                                     reads it (nothing where the owner's ready barrier implies it)
//   K::epilogue_r0(r0)                r0 for the epilogue's row geometry (an opaque copy where the
//                                     compiler would otherwise keep the first one's values live)
//   K::store_output(p, o, m, l, rows, req, split, slot, c, tq, sbase)  O and LSE, or the partials
// and the page policy (how P and V meet; Bf16PagePolicy below for the two kernels with 16-bit pages,
// decode_dense_fp8q/kernel.cuh's for the QGMMA kernel whose V is a transposed e4m3 copy):
//   K::kPRegs                         32-bit registers of a page's P fragments (16 x bf16x2, 8 x e4m3x4)
//   K::softmax(s, m_prev, mx, scale, m_new, f, psum, pa)  online softmax of a page into P fragments
//   K::store_p(tile, pa, r0, tq)      P into shared memory for the other consumer's P*V
//   K::pv_rs(o, pa, v, half, fresh) / K::pv_ss(o, p_tile, v, half, fresh)  O_half += P V_half (P in
//                                     registers / smem); fresh: O = P V_half (only with kCarryPages)
//   K::k_stage(smem_k, st)            where stage st's K page lives (Q*K^T's B operand)
//   K::v_stage(smem_k, sbase, st)     where stage st's V operand lives
//   K::wait_own_v(bars, st, first_box, ph)  waits before the own page's P*V (nothing where Q*K^T did)
//   K::kZeroVTail                     V rows past the length are zeroed here (else by the producer)
//   K::kCarryPages                    0, or: every that many pages O moves into an fp32 carry (below),
//   K::carry_m_smem(sbase, c, t)      with the carry's running max in 8 B of smem per thread
// and the barrier set `Bars` (q_full, q_empty, k_full, k_empty, epilogue, p0_ready, p1_ready).
#pragma once

#include <cstdint>

#include "common/split_plan.h"
#include "kernels/sm90/decode_dense_common/consumer.cuh"
#include "kernels/sm90/decode_dense_common/geometry.h"
#include "kernels/sm90/decode_dense_common/rows.cuh"
#include "kernels/sm90/decode_dense_common/seesaw.cuh"
#include "kernels/sm90/ptx.cuh"

namespace flashmla::sm90::dense_common {

// The page policy of the kernels whose P*V reads 16-bit V straight from the K stage (the bf16/fp16
// kernel, and the FP8-cache kernel that converts its pages to bf16): kFp16 picks the 16-bit type.
template <bool kFp16>
struct Bf16PagePolicy {
  static constexpr int kPRegs = 16;
  static constexpr bool kZeroVTail = true;
  __device__ __forceinline__ static void softmax(float (&s)[32], const float (&m_prev)[2], const float (&mx)[2],
                                                 float scale_log2, float (&m_new)[2], float (&f)[2],
                                                 float (&psum)[2], uint32_t (&pa)[16]) {
    softmax_page<kFp16>(s, m_prev, mx, scale_log2, m_new, f, psum, pa);
  }
  __device__ __forceinline__ static void store_p(uint32_t p_tile, const uint32_t (&pa)[16], int r0, int tq) {
    dense_common::store_p(p_tile, pa, r0, tq);
  }
  __device__ __forceinline__ static void pv_rs(float (&o)[128], const uint32_t (&pa)[16], uint32_t v, int half, bool) {
    issue_pv_rs<kFp16>(o, pa, v, half);
  }
  __device__ __forceinline__ static void pv_ss(float (&o)[128], uint32_t p_tile, uint32_t v, int half, bool) {
    issue_pv_ss<kFp16>(o, p_tile, v, half);
  }
  __device__ __forceinline__ static uint32_t k_stage(uint32_t smem_k, int st) { return smem_k + st * kStageBytes; }
  __device__ __forceinline__ static uint32_t v_stage(uint32_t smem_k, uint32_t, int st) { return k_stage(smem_k, st); }
  template <class Bars>
  __device__ __forceinline__ static void wait_own_v(const Bars&, int, int, uint32_t) {}
  static constexpr int kCarryPages = 0;  // bf16 WGMMA accumulates in full fp32
};

// The fp32 carry of a kernel whose tensor-core accumulator keeps fewer bits than fp32 (the e4m3 QGMMA:
// each addition into a large accumulator loses the small addend's low bits, so the error grows with the
// pages one chunk accumulates -- measured on the H200, cosine distance 7e-5 / 2e-4 / 6e-4 at 256 / 512 /
// 1024 pages). Every K::kCarryPages pages each consumer thread adds its O fragment, rescaled from the
// carry's running max, into the chunk's own workspace slot rows (fp32, the rows its epilogue writes
// last; a whole request's slot is otherwise unused, docs/dense_fp8.md), and restarts O from zero (its next
// P*V overwrites instead of accumulating: `fresh`, no register writes, which as a loop-carried merge of
// 128 accumulators would spill); the epilogue adds the carry back. The same thread writes and reads its
// own addresses (program order).
// final = false: flush. The carry keeps the reference max m_c of its first flush, and later flushes add
// O * 2^(m - m_c) (>= 1: the running max only grows) with fire-and-forget fp32 reductions (red.add: no
// read of the carry in the consumers' path); only a row whose max grew past kCarryRebase since m_c pays a
// read-modify-write (carry = carry * 2^(m_c - m) + O, m_c = m), so no scaled O can overflow. A row that had
// seen nothing at the first flush (m_c = -inf, carry 0) is rebased by a plain store.
// final = true: O += carry * 2^(m_c - m). Carry reads bypass L1 (ld.global.cg): the reductions happen in L2.
// carried: an earlier flush of this chunk wrote the carry (else it is read as zero). m_c_smem: this
// thread's own 8 bytes of shared memory holding the carry's reference max of its two rows (registers are
// what the consumers lack).
constexpr float kCarryRebase = 32.0f;  // log2 units: |O| * 2^32 stays far below fp32's range
template <bool kFinal, class Params>
__device__ __forceinline__ void carry_o(const Params& p, const int32_t* rec, float (&o)[128], const float (&m)[2],
                                        uint32_t m_c_smem, bool carried, int req, int tile, int kvh, int r0, int L,
                                        int c, int tq) {
  float m_c[2] = {kNegInf, kNegInf};
  if (carried) {
    m_c[0] = ptx::ld_shared_f32(m_c_smem);
    m_c[1] = ptx::ld_shared_f32(m_c_smem + 4);
  }
  RowInfo rows[2];
  make_rows(rows, p, tile, kvh, r0, L);
  const int slot = req == rec[plan::kRecBeginReq] ? rec[plan::kRecBeginSlot] : p.split.num_splits[req];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    // m >= m_c (the running max only grows); a row that has seen nothing has both at -inf.
    const bool live = carried && m_c[r] != kNegInf;
    // Flush modes: add (reduction, m_c kept), rebase (read-modify-write or, with no live carry, a store).
    const bool add = !kFinal && live && m[r] - m_c[r] <= kCarryRebase;
    const float fac = live ? ptx::ex2(m_c[r] - m[r]) : 0.0f;  // carry -> O's reference
    const float up = add ? ptx::ex2(m[r] - m_c[r]) : 0.0f;    // O -> the carry's reference
    if (rows[r].valid) {
      const int64_t row = (static_cast<int64_t>(slot) * p.s_q + rows[r].token) * p.h_q + rows[r].head;
      float2* dst = reinterpret_cast<float2*>(p.split.partial_o + row * kHeadDimV + c * (kHeadDimV / 2) + 2 * tq);
      if (add) {
#pragma unroll
        for (int j = 0; j < 32; ++j) {
          const int i = 4 * j + 2 * r;
          ptx::red_add_v2_f32(dst + 4 * j, o[i] * up, o[i + 1] * up);
          if (j % 8 == 7) asm volatile("" ::: "memory");
        }
      } else {
        // 8 loads in flight at a time: the compiler barrier keeps it from hoisting all 32 (64 registers
        // the consumers do not have).
#pragma unroll
        for (int j0 = 0; j0 < 32; j0 += 8) {
          float2 prev[8];
#pragma unroll
          for (int j = 0; j < 8; ++j) prev[j] = carried ? __ldcg(dst + 4 * (j0 + j)) : make_float2(0.0f, 0.0f);
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            const int i = 4 * (j0 + j) + 2 * r;
            const float x = fmaf(prev[j].x, fac, o[i]), y = fmaf(prev[j].y, fac, o[i + 1]);
            if constexpr (kFinal) {
              o[i] = x;
              o[i + 1] = y;
            } else {
              dst[4 * (j0 + j)] = make_float2(x, y);
            }
          }
          asm volatile("" ::: "memory");
        }
      }
    }
    if (!kFinal && !add) ptx::st_shared(m_c_smem + 4 * r, m[r]);
  }
}
// The first P*V of the pair after a flush (at page offset k from the chunk start) starts O afresh.
template <class K>
__device__ __forceinline__ bool fresh_o(int k) {
  if constexpr (K::kCarryPages > 0) return k > 0 && k % K::kCarryPages == 0;
  return false;
}

// Called by the 256 consumer threads after setmaxnreg (c = 0 or 1: which consumer), with the CTA's
// schedule record, its tile and KV head, the 1024-aligned smem base and the Q / K areas' addresses.
template <class K, class Params, class Bars>
__device__ __forceinline__ void consumer_loop(const Params& p, const int32_t* rec, int tile, int kvh, int c,
                                              const uint8_t* smem, uint32_t smem_q, uint32_t smem_k,
                                              const Bars& bars) {
  const int t = threadIdx.x & 127, tq = t & 3;
  const int r0 = (t >> 5) * 16 + ((t & 31) >> 2);
  // Shared-memory addresses of the row exchange arrays (f32 [2][64] each) and the two P tiles.
  const uint32_t sbase = ptx::smem_addr(smem);
  const RowExchange rx{sbase};
  const uint32_t p_tile0 = sbase + kSmemP0, p_tile1 = sbase + kSmemP1;

  float o[128];
  uint32_t kcount = 0, chunk = 0, iter_global = 0;
  for (int req = rec[plan::kRecBeginReq]; req <= rec[plan::kRecEndReq]; ++req, ++chunk) {
    const int L = p.seqlens[req];
    const int n = plan::dense_items(L);
    const int pb = req == rec[plan::kRecBeginReq] ? rec[plan::kRecBeginBlock] : 0;
    const int pe = req == rec[plan::kRecEndReq] ? rec[plan::kRecEndBlock] : n;

    // Only the two key limits stay live through the main loop; the rest of the row geometry is
    // recomputed for the epilogue (keeping it would cost registers the accumulators need).
    int limit[2];
    uint32_t qr[16];
    {
      RowInfo rows[2];
      make_rows(rows, p, tile, kvh, r0, L);
      K::load_q_rope(qr, p, req, rows, tq);
      limit[0] = rows[0].limit;
      limit[1] = rows[1].limit;
    }

    float m_run[2] = {kNegInf, kNegInf}, l_acc[2] = {0.0f, 0.0f};

#pragma unroll
    for (int i = 0; i < 128; ++i) o[i] = 0.0f;
    ptx::mbar_wait(bars.q_full(), chunk & 1);
    if (pb == pe && t == 0) ptx::mbar_arrive(bars.q_empty());

    for (int pg = pb; pg < pe; pg += 2, ++iter_global) {
      const bool has_b = pg + 1 < pe;
      const bool last = pg + 2 >= pe;
      const uint32_t kA = kcount, kB = kcount + 1;
      kcount += has_b ? 2 : 1;
      const int sA = kA & 1, sB = kB & 1;
      const uint32_t phA = (kA >> 1) & 1, phB = (kB >> 1) & 1;
      const uint32_t kA_addr = K::k_stage(smem_k, sA), kB_addr = K::k_stage(smem_k, sB);
      const uint32_t vA = K::v_stage(smem_k, sbase, sA), vB = K::v_stage(smem_k, sbase, sB);
      float s[32];
      uint32_t pa[K::kPRegs];
      float m_new[2], f[2], psum[2];

      if (c == 0) {
        // ---- consumer 0: page A scores and softmax, O_L += P_A V_A, then O_L += P_B V_B ----------
        // Releases: A's RoPE box after Q*K_A^T, A's and B's low boxes after each P*V_L.
        K::issue_qk(s, smem_q, kA_addr, qr, bars.k_full(sA, 0), phA);
        drain_and_release(s, bars.k_empty(sA, kGroupRope), t);
        if (last && t == 0) ptx::mbar_arrive(bars.q_empty());

        mask_scores(s, pg * kPageTokens, limit[0], limit[1], tq);
        float mx[2];
        page_row_max(s, K::scale(p, sbase), mx);
        K::softmax(s, m_run, mx, K::scale(p, sbase), m_new, f, psum, pa);
        l_acc[0] = l_acc[0] * f[0] + psum[0];
        l_acc[1] = l_acc[1] * f[1] + psum[1];
        const bool tail = K::kZeroVTail && (pg + 1) * kPageTokens > L;
        if (tail) zero_v_tail(kA_addr, L - pg * kPageTokens, t);

        if (iter_global > 0) ptx::bar_sync(kBarP0Free, 256);
        publish_p<K>(rx, 0, p_tile0, pa, m_new, f, r0, tq, bars.p0_ready());  // P_A, m_A, f_A for consumer 1
        if (tail) ptx::bar_sync(kBarWg0, 128);

        scale_rows(o, f[0], f[1]);
        K::wait_own_v(bars, sA, 0, phA);
        K::pv_rs(o, pa, vA, 0, fresh_o<K>(pg - pb));
        if (has_b) {
          // B's boxes were waited for by consumer 1 (its Q*K_B^T) before it arrived on p1_ready.
          // P_B's phase = the number of earlier pages B: every earlier pair took 2 pages, every earlier
          // lone page A (a chunk's odd last page) 1, so kA - iter_global of them had a page B.
          ptx::mbar_wait(bars.p1_ready(), (kA - iter_global) & 1);
          float fb[2];
          read_p_stats(rx, 1, r0, m_new, fb);
          l_acc[0] *= fb[0];
          l_acc[1] *= fb[1];
          K::wait_other_page(bars, sB, 0, phB);
          drain_and_release(o, bars.k_empty(sA, kGroupLo), t);
          scale_rows(o, fb[0], fb[1]);
          K::pv_ss(o, p_tile1, vB, 0, false);
          // Drained here rather than behind the next Q*K^T: B's low boxes are what consumer 1's next
          // Q*K^T waits for, and a wait_group 1 across iterations makes ptxas serialize every WGMMA.
          drain_and_release(o, bars.k_empty(sB, kGroupLo), t);
        } else {
          drain_and_release(o, bars.k_empty(sA, kGroupLo), t);
        }
        m_run[0] = m_new[0];
        m_run[1] = m_new[1];
      } else {
        // ---- consumer 1: page B scores and softmax, O_R += P_A V_A + P_B V_B ---------------------
        // Releases: B's RoPE box after Q*K_B^T, A's and B's high boxes after each P*V_R.
        if (has_b) {
          K::issue_qk(s, smem_q, kB_addr, qr, bars.k_full(sB, 0), phB);
          drain_and_release(s, bars.k_empty(sB, kGroupRope), t);
        }
        if (last && t == 0) ptx::mbar_arrive(bars.q_empty());
        float mx[2];
        if (has_b) {  // the row maxima of S_B need nothing from consumer 0
          mask_scores(s, (pg + 1) * kPageTokens, limit[0], limit[1], tq);
          page_row_max(s, K::scale(p, sbase), mx);
        }

        ptx::mbar_wait(bars.p0_ready(), iter_global & 1);  // every iteration has a page A
        float ma[2], fa[2];
        read_p_stats(rx, 0, r0, ma, fa);
        if (has_b) {
          K::softmax(s, ma, mx, K::scale(p, sbase), m_new, f, psum, pa);
          l_acc[0] = l_acc[0] * fa[0] * f[0] + psum[0];
          l_acc[1] = l_acc[1] * fa[1] * f[1] + psum[1];
          const bool tail = K::kZeroVTail && (pg + 2) * kPageTokens > L;
          if (tail) zero_v_tail(kB_addr, L - (pg + 1) * kPageTokens, t);
          publish_p<K>(rx, 1, p_tile1, pa, m_new, f, r0, tq, bars.p1_ready());  // P_B, m_B, f_B for consumer 0
          if (tail) ptx::bar_sync(kBarWg1, 128);
        } else {
          l_acc[0] *= fa[0];
          l_acc[1] *= fa[1];
          m_new[0] = ma[0];
          m_new[1] = ma[1];
        }
        K::wait_other_page(bars, sA, 4, phA);
        scale_rows(o, fa[0], fa[1]);
        K::pv_ss(o, p_tile0, vA, 1, fresh_o<K>(pg - pb));
        drain_and_release(o, bars.k_empty(sA, kGroupHi), t);
        ptx::bar_arrive(kBarP0Free, 256);  // P_A, m_A and f_A have all been read
        if (has_b) {
          scale_rows(o, f[0], f[1]);
          K::wait_own_v(bars, sB, 4, phB);
          K::pv_rs(o, pa, vB, 1, false);
          drain_and_release(o, bars.k_empty(sB, kGroupHi), t);
        }
        m_run[0] = m_new[0];
        m_run[1] = m_new[1];
      }
      if constexpr (K::kCarryPages > 0) {
        if (!last && (pg - pb + 2) % K::kCarryPages == 0)
          carry_o<false>(p, rec, o, m_run, K::carry_m_smem(sbase, c, t), pg - pb + 2 > K::kCarryPages, req, tile, kvh,
                         K::epilogue_r0(r0), L, c, tq);
      }
    }
    if constexpr (K::kCarryPages > 0) {
      if (pe - pb > K::kCarryPages)  // at least one flush happened
        carry_o<true>(p, rec, o, m_run, K::carry_m_smem(sbase, c, t), true, req, tile, kvh, K::epilogue_r0(r0), L, c,
                      tq);
    }

    // ---- epilogue of the chunk (every WGMMA of the chunk has completed) -----------------------------
    // Row sums: each consumer summed its own pages; both are relative to the same final max.
    float lsum[2];
    exchange_row_sums(rx, l_acc, lsum, c, r0, tq, bars.epilogue(), chunk);

    const int ns0 = p.split.num_splits[req], ns1 = p.split.num_splits[req + 1];
    const int slot = req == rec[plan::kRecBeginReq] ? rec[plan::kRecBeginSlot] : ns0;
    RowInfo rows[2];
    make_rows(rows, p, tile, kvh, K::epilogue_r0(r0), L);
    K::store_output(p, o, m_run, lsum, rows, req, ns1 - ns0 > 1, slot, c, tq, sbase);
  }
  if (c == 0 && iter_global > 0) ptx::bar_sync(kBarP0Free, 256);  // matches consumer 1's last arrive
}

}  // namespace flashmla::sm90::dense_common
