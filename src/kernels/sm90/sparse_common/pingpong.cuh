// The consumer warpgroups of the sparse ping-pong kernels (sparse prefill, sparse decode): per step b of
// 64 gathered rows, S_b = Q K_b^T, the online softmax, O += P_b V_b, split between two warpgroups that
// alternate as the owner of a step. The producer (each kernel's own) fills the two K stages and their
// position-valid flags and signals full[]; the epilogue (each kernel's own) writes O / l.
//
// WG0 / WG1 (consumers, 128 threads each): WG c owns O[:, 256c : 256c + 256] (128 fp32 per thread) and
// "owns" the steps b with b % 2 == c: for those it computes the full 64 x 64 score tile
// S_b = Q K_b^T (WGMMA m64n64k16, Q and K from shared memory), the online softmax, and P_b, which it
// keeps in registers for its own P*V (RS) and publishes in shared memory, with the row max m_b and
// the rescale factor f_b, for the other consumer's P*V (SS) (barrier ready[b % 2]).
// Iteration b of WG c (b = c, c + 2, ... <= steps):
//   (1) the other's step b - 1: wait ready, O *= f_{b-1}, issue O += P_{b-1} V_{b-1}[half c] (SS);
//   (2) own step b: wait full, issue S_b = Q K_b^T; the P*V of (1) completes first (wait_group 1):
//       release stage b - 1 (empty), then S_b completes;
//   (3) mask, row max against m_{b-1}, P_b, f_b; store P_b / m_b / f_b, arrive ready[b % 2];
//   (4) O *= f_b, O += P_b V_b[half c] (RS), wait, release stage b.
// So while one consumer runs its softmax, the tensor cores run the other consumer's Q*K^T or P*V
// (ping-pong), and each Q*K^T is a whole m64n64 tile: shared-memory traffic for Q*K^T is 144 KB per
// step at d_qk 576 (m64n32 halves, both operands from shared memory, would need 216 KB and be bound by
// shared-memory bandwidth).
// The running max is a chain m_b = max(m_{b-1}, rowmax S_b) that alternates between the consumers; both
// apply the same f_b to their O halves, and each keeps the row sum of its own steps (rescaled by
// every f), added in row_sums().
// Hand-offs are all mbarriers (producer -> consumers: full; consumers -> producer: empty; consumer ->
// consumer: ready, epilogue): compute-sanitizer racecheck has flagged named-barrier-only hand-offs in
// this repo. The single P buffer and the m/f slots (indexed by step parity) need no "free" barrier:
// the next writer of each is the warpgroup that last read it, after its reading WGMMA completed, and
// ready[] orders the writer behind the other consumer's reads (see the comments at each store).
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/common/convert.cuh"
#include "kernels/sm90/decode_dense_common/consumer.cuh"  // quad_max/sum, pack_p, scale_rows, store_p, issue_pv_rs/ss
#include "kernels/sm90/ptx.cuh"
#include "kernels/sm90/sparse_common/gather.cuh"
#include "kernels/sm90/sparse_common/tiles.h"
#include "kernels/sm90/wgmma_ops.cuh"

namespace flashmla::sm90::sparse_common {

constexpr float kInf = __builtin_inff();
constexpr float kLn2 = 0.69314718055994530942f;

// Shared-memory barrier addresses (8 bytes each).
struct Bars {
  uint32_t base;
  __device__ uint32_t full(int s) const { return base + 8 * s; }        // producer -> consumers, K stage s
  __device__ uint32_t empty(int s) const { return base + 16 + 8 * s; }  // consumers -> producer
  __device__ uint32_t ready(int s) const { return base + 32 + 8 * s; }  // owner of a step of parity s -> other
  __device__ uint32_t epilogue() const { return base + 48; }            // row sums, both consumers
};
constexpr uint32_t kFullCount = 2 * 128;  // per producer thread: one cp.async (noinc) + one plain arrival
// Every consumer thread, after its WGMMAs completed: each thread's arrival also releases its own reads of
// the stage's valid flags (which the producer rewrites next), so racecheck sees the WAR ordered.
constexpr uint32_t kEmptyCount = kConsumerThreads;
constexpr uint32_t kReadyCount = 128;     // every thread of the owning consumer (each releases its stores)
constexpr uint32_t kEpilogueCount = 256;

// Thread 0 initialises the barriers; the caller then runs __syncthreads().
template <class Cfg>
__device__ __forceinline__ void init_bars(Bars bars) {
  for (int st = 0; st < Cfg::kStages; ++st) {
    ptx::mbar_init(bars.full(st), kFullCount);
    ptx::mbar_init(bars.empty(st), kEmptyCount);
    ptx::mbar_init(bars.ready(st), kReadyCount);
  }
  ptx::mbar_init(bars.epilogue(), kEpilogueCount);
  ptx::fence_barrier_init();
}

__device__ __forceinline__ uint32_t ld_shared_u16(uint32_t addr) {
  uint16_t v;
  asm volatile("ld.shared.u16 %0, [%1];" : "=h"(v) : "r"(addr) : "memory");
  return v;
}

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
    const uint32_t v2 = ld_shared_u16(vslot + 8 * j + 2 * tq);  // columns 8j + 2tq, +1
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

// P = hi + lo as two bf16 A-fragment sets: hi = bf16(P) (pack_p's layout, pa[i] = columns 2i, 2i + 1),
// lo = bf16(P - hi) (P - hi is exact in fp32). P*V with both carries P to ~2^-17 instead of 2^-9.
__device__ __forceinline__ void pack_p_split(const float (&s)[32], uint32_t (&hi)[16], uint32_t (&lo)[16]) {
  dense_common::pack_p<false>(s, hi);
#pragma unroll
  for (int i = 0; i < 16; ++i)
    lo[i] = kernels::pack2<false>(s[2 * i] - __uint_as_float(hi[i] << 16), s[2 * i + 1] - __uint_as_float(hi[i] & 0xffff0000u));
}

// A one-step list with P carried as hi + lo (kExactSingle, the sparse decode): with few tokens the bf16
// rounding of P does not average out (V32 h_q 1 topk 3, weights ~1, values that cancel: out off by
// 1.2e-3, docs/sparse_decode.md "Accuracy"). Consumer 0 owns the step; P_lo goes to stage 1, which a
// one-step list never uses. Costs one more P*V per consumer, only on one-step CTAs.
template <class Cfg>
__device__ __forceinline__ void consume_single_exact(float (&o)[128], float (&m_run)[2], float (&l_run)[2], int c,
                                                     int t, float scale_log2, uint32_t sb, Bars bars) {
  const uint32_t q_tile = sb + Cfg::kSmemQ, k_tile = sb + Cfg::kSmemK, p_tile = sb + Cfg::kSmemP;
  const uint32_t p_lo_tile = k_tile + Cfg::kTileBytes;
  const uint32_t row_m = sb + Cfg::kSmemRowM;
  const int lane = t & 31, tq = lane & 3;
  const int r0 = (t >> 5) * 16 + (lane >> 2);
  if (c == 0) {
    ptx::mbar_wait(bars.full(0), 0);
    ptx::fence_proxy_async();
    float sc[32];
#pragma unroll
    for (int i = 0; i < 32; ++i) sc[i] = 0.0f;
    issue_qk<Cfg>(sc, q_tile, k_tile);
    ptx::wgmma_wait<0>();
    ptx::fence_regs(sc);
    float m_new[2], f[2], psum[2];
    uint32_t pa[16], pl[16];
    softmax_step(sc, sb + Cfg::kSmemValid, tq, scale_log2, m_run, m_new, f, psum, pa);
    pack_p_split(sc, pa, pl);
    l_run[0] = psum[0];
    l_run[1] = psum[1];
    dense_common::store_p(p_tile, pa, r0, tq);
    dense_common::store_p(p_lo_tile, pl, r0, tq);
    if (tq == 0) {
      ptx::st_shared(row_m + 4 * r0, m_new[0]);
      ptx::st_shared(row_m + 4 * (r0 + 8), m_new[1]);
    }
    ptx::fence_proxy_async();
    ptx::mbar_arrive(bars.ready(0));
    dense_common::issue_pv_rs<false>(o, pa, k_tile, 0);
    dense_common::issue_pv_rs<false>(o, pl, k_tile, 0);
    m_run[0] = m_new[0];
    m_run[1] = m_new[1];
  } else {
    ptx::mbar_wait(bars.ready(0), 0);
    ptx::mbar_wait(bars.full(0), 0);
    ptx::fence_proxy_async();
    m_run[0] = ptx::ld_shared_f32(row_m + 4 * r0);
    m_run[1] = ptx::ld_shared_f32(row_m + 4 * (r0 + 8));
    dense_common::issue_pv_ss<false>(o, p_tile, k_tile, 1);
    dense_common::issue_pv_ss<false>(o, p_lo_tile, k_tile, 1);
  }
  ptx::wgmma_wait<0>();
  ptx::fence_regs(o);
  ptx::mbar_arrive(bars.empty(0));
}

// Consumer c (0/1, thread t of its warpgroup) over `steps` steps, in the shared-memory map Cfg from the
// 1024-aligned base sb. On return: o = this consumer's unnormalised O half, m_run = the last step's
// running max of the raw scores q.k (-inf: nothing seen), l_run = this thread's share of the row sums of
// this consumer's own steps (row_sums() adds the rest). Every stage this consumer read was released.
// kExactSingle: a one-step list takes consume_single_exact.
template <class Cfg, bool kExactSingle = false>
__device__ __forceinline__ void consume(float (&o)[128], float (&m_run)[2], float (&l_run)[2], int steps, int c,
                                        int t, float scale_log2, uint32_t sb, Bars bars) {
  const uint32_t q_tile = sb + Cfg::kSmemQ, k_tiles = sb + Cfg::kSmemK, p_tile = sb + Cfg::kSmemP;
  const uint32_t row_m = sb + Cfg::kSmemRowM, row_f = sb + Cfg::kSmemRowF;
  const uint32_t valid = sb + Cfg::kSmemValid;
  const int lane = t & 31, tq = lane & 3;
  const int r0 = (t >> 5) * 16 + (lane >> 2);  // this thread's rows: r0, r0 + 8

#pragma unroll
  for (int i = 0; i < 128; ++i) o[i] = 0.0f;
  m_run[0] = m_run[1] = -kInf;
  l_run[0] = l_run[1] = 0.0f;
  if constexpr (kExactSingle) {
    if (steps == 1) {
      consume_single_exact<Cfg>(o, m_run, l_run, c, t, scale_log2, sb, bars);
      return;
    }
  }

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
    softmax_step(sc, valid + st * kBlockN, tq, scale_log2, m_run, m_new, f, psum, pa);
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
}

// The full row sums of this thread's rows r0, r0 + 8 (both consumers' steps), into lt. Both consumers
// end consume() with m_run = the last step's max (the owner computed it, the other read it), so their
// sums are relative to the same max. One phase of the epilogue barrier per CTA.
template <class Cfg>
__device__ __forceinline__ void row_sums(const float (&l_run)[2], int c, int t, uint32_t sb, Bars bars,
                                         float (&lt)[2]) {
  const uint32_t row_l = sb + Cfg::kSmemRowL;
  const int lane = t & 31, tq = lane & 3;
  const int r0 = (t >> 5) * 16 + (lane >> 2);
  const float l[2] = {dense_common::quad_sum(l_run[0]), dense_common::quad_sum(l_run[1])};
  if (tq == 0) {
    ptx::st_shared(row_l + 4 * (c * kBlockM + r0), l[0]);
    ptx::st_shared(row_l + 4 * (c * kBlockM + r0 + 8), l[1]);
  }
  ptx::mbar_arrive(bars.epilogue());  // release the stores
  ptx::mbar_wait(bars.epilogue(), 0);
#pragma unroll
  for (int r = 0; r < 2; ++r) lt[r] = l[r] + ptx::ld_shared_f32(row_l + 4 * ((1 - c) * kBlockM + r0 + 8 * r));
}

}  // namespace flashmla::sm90::sparse_common
