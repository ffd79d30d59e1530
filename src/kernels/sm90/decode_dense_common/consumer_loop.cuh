// The consumer warpgroups' side of both dense decode split kernels on sm_90a (the bf16/fp16 one,
// decode_dense/kernel.cuh, and the FP8-cache one, decode_dense_fp8/kernel.cuh): the two-consumer
// "seesaw" over pairs of pages (A, B), the chunk epilogue and the final barrier, written once.
// decode_dense/kernel.cuh's top comment describes the roles and the hand-offs.
//
// The kernel supplies a policy K (static members only; everything inlines):
//   K::kFp16                          P and V element type of the GEMMs (false: bf16)
//   K::issue_qk(s, q, k, qr, full, ph) S = Q K^T of one page, waiting on the page's full barriers
//   K::load_q_rope(qr, p, req, rows, tq)  Q's RoPE channels as WGMMA A fragments
//   K::scale(p, sbase)                the softmax scale in the log2 domain (a parameter, or smem)
//   K::wait_other_page(bars, st, first_box, ph)  waits on the other consumer's page before a P*V that
//                                     reads it (nothing where the owner's ready barrier implies it)
//   K::epilogue_r0(r0)                r0 for the epilogue's row geometry (an opaque copy where the
//                                     compiler would otherwise keep the first one's values live)
//   K::store_output(p, o, m, l, rows, req, split, slot, c, tq, sbase)  O and LSE, or the partials
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
      const uint32_t kA_addr = smem_k + sA * kStageBytes, kB_addr = smem_k + sB * kStageBytes;
      float s[32];
      uint32_t pa[16];
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
        softmax_page<K::kFp16>(s, m_run, mx, K::scale(p, sbase), m_new, f, psum, pa);
        l_acc[0] = l_acc[0] * f[0] + psum[0];
        l_acc[1] = l_acc[1] * f[1] + psum[1];
        const bool tail = (pg + 1) * kPageTokens > L;
        if (tail) zero_v_tail(kA_addr, L - pg * kPageTokens, t);

        if (iter_global > 0) ptx::bar_sync(kBarP0Free, 256);
        publish_p(rx, 0, p_tile0, pa, m_new, f, r0, tq, bars.p0_ready());  // P_A, m_A, f_A for consumer 1
        if (tail) ptx::bar_sync(kBarWg0, 128);

        scale_rows(o, f[0], f[1]);
        issue_pv_rs<K::kFp16>(o, pa, kA_addr, 0);
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
          issue_pv_ss<K::kFp16>(o, p_tile1, kB_addr, 0);
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
          softmax_page<K::kFp16>(s, ma, mx, K::scale(p, sbase), m_new, f, psum, pa);
          l_acc[0] = l_acc[0] * fa[0] * f[0] + psum[0];
          l_acc[1] = l_acc[1] * fa[1] * f[1] + psum[1];
          const bool tail = (pg + 2) * kPageTokens > L;
          if (tail) zero_v_tail(kB_addr, L - (pg + 1) * kPageTokens, t);
          publish_p(rx, 1, p_tile1, pa, m_new, f, r0, tq, bars.p1_ready());  // P_B, m_B, f_B for consumer 0
          if (tail) ptx::bar_sync(kBarWg1, 128);
        } else {
          l_acc[0] *= fa[0];
          l_acc[1] *= fa[1];
          m_new[0] = ma[0];
          m_new[1] = ma[1];
        }
        K::wait_other_page(bars, sA, 4, phA);
        scale_rows(o, fa[0], fa[1]);
        issue_pv_ss<K::kFp16>(o, p_tile0, kA_addr, 1);
        drain_and_release(o, bars.k_empty(sA, kGroupHi), t);
        ptx::bar_arrive(kBarP0Free, 256);  // P_A, m_A and f_A have all been read
        if (has_b) {
          scale_rows(o, f[0], f[1]);
          issue_pv_rs<K::kFp16>(o, pa, kB_addr, 1);
          drain_and_release(o, bars.k_empty(sB, kGroupHi), t);
        }
        m_run[0] = m_new[0];
        m_run[1] = m_new[1];
      }
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
