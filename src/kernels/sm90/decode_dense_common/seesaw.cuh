// Pieces of the two dense decode kernels' CTA flow that are the same in both (the bf16/fp16 kernel and
// the FP8-cache kernel run the same two-consumer "seesaw", decode_dense/kernel.cuh): the length check
// every CTA makes first, the shared-memory row exchange between the consumers (running max, rescale
// factors, row sums) and the release of a box group after the WGMMAs that read it.
#pragma once

#include <cstdint>

#include "common/split_plan.h"
#include "kernels/sm90/decode_dense_common/consumer.cuh"
#include "kernels/sm90/decode_dense_common/geometry.h"
#include "kernels/sm90/ptx.cuh"

namespace flashmla::sm90::dense_common {

// Invalid lengths (negative, or more pages than the block table has) would read outside the caller's
// tensors: then no CTA writes anything, and the status word tells the combine kernel. Every thread of
// the CTA calls this; false: the CTA has nothing to do (bad lengths, or an empty schedule record).
template <class Params>
__device__ __forceinline__ bool cta_has_work(const Params& p, const int32_t* rec) {
  bool bad = false;
  for (int i = threadIdx.x; i < p.batch; i += kThreads) {
    const int L = p.seqlens[i];
    bad |= L < 0 || plan::dense_items(L) > p.max_blocks;
  }
  bad = __syncthreads_or(bad);
  if (blockIdx.x == 0 && blockIdx.y == 0 && blockIdx.z == 0 && threadIdx.x == 0) *p.split.status = bad ? 1 : 0;
  return !(bad || rec[plan::kRecBeginReq] > rec[plan::kRecEndReq]);
}

// Shared-memory addresses of the row exchange arrays (f32 [2][64] each; index half * kBlockM + row,
// half 0 = page A / consumer 0, 1 = page B / consumer 1).
struct RowExchange {
  uint32_t sbase;  // shared-memory address of the 1024-aligned base
  __device__ __forceinline__ uint32_t row_m(int i) const { return sbase + kSmemRowM + 4 * i; }
  __device__ __forceinline__ uint32_t row_scale(int i) const { return sbase + kSmemRowScale + 4 * i; }
  __device__ __forceinline__ uint32_t row_l(int i) const { return sbase + kSmemRowL + 4 * i; }
};

// Waits for this warpgroup's WGMMAs (acc: the registers they write), then thread 0 releases the box
// group they read to the producer.
template <int N>
__device__ __forceinline__ void drain_and_release(float (&acc)[N], uint32_t empty_bar, int t) {
  ptx::wgmma_wait<0>();
  ptx::fence_regs(acc);
  if (t == 0) ptx::mbar_arrive(empty_bar);
}

// Publishes page `half`'s P (into p_tile), its running max m and rescale factors f for the other
// consumer, then arrives on the mbarrier ready_bar (128 arrivals: every thread of this consumer; one
// phase per page). Why mbarriers and not named barriers (bar.arrive here, bar.sync there, as the kernels
// had until 2026-12-02): compute-sanitizer racecheck does not accept bar.arrive -> bar.sync as ordering
// the publisher's stores before the reader's loads and reported RAW hazards on these rows (both
// directions, depending on the kernel and the run); tests/probes/racecheck_seesaw.cu reproduces that
// with the hand-off alone, and shows the mbarrier form (arrive = release, try_wait = acquire) clean.
// K::store_p writes the tile in the layout the other consumer's P*V reads (consumer_loop.cuh's policy).
template <class K, int N>
__device__ __forceinline__ void publish_p(const RowExchange& rx, int half, uint32_t p_tile, const uint32_t (&pa)[N],
                                          const float (&m)[2], const float (&f)[2], int r0, int tq,
                                          uint32_t ready_bar) {
  K::store_p(p_tile, pa, r0, tq);
  if (tq == 0) {
    ptx::st_shared(rx.row_m(half * kBlockM + r0), m[0]);
    ptx::st_shared(rx.row_m(half * kBlockM + r0 + 8), m[1]);
    ptx::st_shared(rx.row_scale(half * kBlockM + r0), f[0]);
    ptx::st_shared(rx.row_scale(half * kBlockM + r0 + 8), f[1]);
  }
  ptx::fence_proxy_async();  // P is read by the other consumer's WGMMA (async proxy)
  ptx::mbar_arrive(ready_bar);
}

// The running max and rescale factors of page `half`, published by the other consumer (after waiting
// on its ready mbarrier).
__device__ __forceinline__ void read_p_stats(const RowExchange& rx, int half, int r0, float (&m)[2], float (&f)[2]) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    m[r] = ptx::ld_shared_f32(rx.row_m(half * kBlockM + r0 + 8 * r));
    f[r] = ptx::ld_shared_f32(rx.row_scale(half * kBlockM + r0 + 8 * r));
  }
}

// Row sums at the end of a chunk: each consumer summed its own pages, both relative to the same final
// max; lsum gets the total. The stores -> other warpgroup's loads hand-off goes through the epilogue
// mbarrier (arrive = release, wait = acquire), one phase per chunk; compute-sanitizer racecheck
// reported the named-barrier version of this hand-off as a RAW hazard. The loads -> next chunk's
// stores direction keeps a named barrier.
__device__ __forceinline__ void exchange_row_sums(const RowExchange& rx, const float (&l_acc)[2], float (&lsum)[2],
                                                  int c, int r0, int tq, uint32_t epilogue_bar, uint32_t chunk) {
  lsum[0] = quad_sum(l_acc[0]);
  lsum[1] = quad_sum(l_acc[1]);
  if (tq == 0) {
    ptx::st_shared(rx.row_l(c * kBlockM + r0), lsum[0]);
    ptx::st_shared(rx.row_l(c * kBlockM + r0 + 8), lsum[1]);
  }
  ptx::mbar_arrive(epilogue_bar);
  ptx::mbar_wait(epilogue_bar, chunk & 1);
  lsum[0] = ptx::ld_shared_f32(rx.row_l(r0)) + ptx::ld_shared_f32(rx.row_l(kBlockM + r0));
  lsum[1] = ptx::ld_shared_f32(rx.row_l(r0 + 8)) + ptx::ld_shared_f32(rx.row_l(kBlockM + r0 + 8));
  ptx::bar_sync(kBarEpilogue, 256);  // row_l is rewritten by the next chunk
}

}  // namespace flashmla::sm90::dense_common
