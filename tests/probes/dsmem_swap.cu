// Probe for the channel-split 2-CTA dense layout (docs/kernel.md "Next design candidates"): how long does
// it take two CTAs of a cluster to swap one 64 x 64 fp32 tile (16 KB each way) through distributed shared
// memory, once per page? The design needs that round trip well under a page's ~3,000 cycles.
//
// Grid: n clusters of 2 CTAs (__cluster_dims__(2)), 256 threads each, every thread moving 64 B (four
// 16-byte stores) per swap into the peer CTA's receive buffer (two buffers, alternating by iteration).
//   mode 0: st.shared::cluster stores, then barrier.cluster arrive.release / wait.acquire, then each
//           thread reads back and checks what the peer wrote into its own buffer.
//   mode 1: st.async stores that complete_tx on the peer's "full" mbarrier of that buffer (its thread 0
//           arms it with expect_tx 16 KB); the receiver waits on it (acquire.cluster), checks, and every
//           thread arrives remotely on the sender's "empty" mbarrier, which the sender waits on before it
//           reuses the buffer two iterations later -- the hand-off a kernel would use (no cluster-wide
//           barrier on the critical path).
//   mode 2: baseline without DSMEM: each CTA writes its own buffer, __syncthreads, reads it back.
// Reports cycles per swap (clock64 of thread 0 of each CTA, mean and max over CTAs) and the number of
// values that differed from what was written (must be 0).
//
// Result on the H200 (2026-12-02, bench/results/NVIDIA-H200-2026-12-02-s8-dsmem-swap.txt; cycles per
// iteration, mean over CTAs, 1 cluster / 66 clusters = every SM): mode 0 2,696 / 2,919, mode 1 2,714 /
// 2,922, mode 2 (local baseline, same value generation and checks) 1,282 / 1,282. So a 16 KB swap costs
// ~1,400-1,650 cycles beyond the local work as a dependent ping-pong, with either hand-off: about half of a
// page's ~3,000 cycles in the current kernel. The channel-split layout can only hide it with several pages'
// exchanges in flight; all values arrived intact (0 wrong).
//
// Build and run (on the GPU machine):
//   nvcc -arch=sm_90a -std=c++17 -O3 -I src -o build/dsmem_swap tests/probes/dsmem_swap.cu
//   build/dsmem_swap <mode 0|1|2> <clusters> <iterations>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <cuda_runtime.h>

#include "kernels/sm90/ptx.cuh"  // smem_addr, mbar_init, mbar_arrive_expect_tx, fence_barrier_init

namespace {

namespace ptx = flashmla::sm90::ptx;

// The cluster-scope operations ptx.cuh (CTA-local kernels) does not have.
constexpr int kThreads = 256;
constexpr int kTileBytes = 64 * 64 * 4;               // one fp32 64 x 64 partial-score tile
constexpr int kPerThread = kTileBytes / kThreads / 16;  // 16-byte stores per thread per swap (4)

__device__ __forceinline__ uint32_t cluster_rank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(r));
  return r;
}
__device__ __forceinline__ uint32_t map_to_rank(uint32_t addr, uint32_t rank) {  // local smem -> peer's
  uint32_t out;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(out) : "r"(addr), "r"(rank));
  return out;
}
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;" ::: "memory");
}
__device__ __forceinline__ void mbar_arrive_remote(uint32_t cluster_bar) {
  asm volatile("mbarrier.arrive.release.cluster.shared::cluster.b64 _, [%0];" ::"r"(cluster_bar) : "memory");
}
__device__ __forceinline__ void mbar_wait_cluster(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n .reg .pred p;\n W: mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 p, [%0], %1;\n"
      " @!p bra W;\n}" ::"r"(bar),
      "r"(parity)
      : "memory");
}
__device__ __forceinline__ void st_cluster_v4(uint32_t addr, uint4 v) {
  asm volatile("st.shared::cluster.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(addr), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w)
               : "memory");
}
__device__ __forceinline__ void st_async_v4(uint32_t addr, uint4 v, uint32_t remote_bar) {
  asm volatile("st.async.shared::cluster.mbarrier::complete_tx::bytes.v4.b32 [%0], {%1, %2, %3, %4}, [%5];" ::"r"(addr),
               "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w), "r"(remote_bar)
               : "memory");
}
__device__ __forceinline__ uint4 ld_shared_v4(uint32_t addr) {
  uint4 v;
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr) : "memory");
  return v;
}
__device__ __forceinline__ uint4 value_of(uint32_t iter, uint32_t sender, uint32_t word) {
  const uint32_t b = (iter * 2654435761u) ^ (sender << 28) ^ (word * 4);
  return make_uint4(b, b + 1, b + 2, b + 3);
}

__global__ void __cluster_dims__(2, 1, 1) __launch_bounds__(kThreads, 1)
    swap_kernel(int mode, int iters, long long* cycles, unsigned long long* bad_out) {
  __shared__ alignas(128) uint8_t buf[2][kTileBytes];
  __shared__ alignas(8) uint64_t full[2], empty[2];
  const uint32_t me = cluster_rank(), peer = me ^ 1u, t = threadIdx.x;
  if (t == 0) {
    for (int b = 0; b < 2; ++b) {
      ptx::mbar_init(ptx::smem_addr(&full[b]), 1);           // the local expect_tx (the bytes complete it)
      ptx::mbar_init(ptx::smem_addr(&empty[b]), kThreads);   // every peer thread, after reading what it was sent
    }
    ptx::fence_barrier_init();
  }
  cluster_sync();  // the peer's barriers are initialised before anyone signals them
  unsigned long long bad = 0;
  const long long t0 = clock64();
  for (int i = 0; i < iters; ++i) {
    const int b = i & 1;
    const uint32_t mine = ptx::smem_addr(buf[b]);
    const uint32_t theirs = map_to_rank(mine, peer);
    if (mode == 1) {
      if (i >= 2) mbar_wait_cluster(ptx::smem_addr(&empty[b]), ((i - 2) >> 1) & 1);  // peer has read buffer b
      if (t == 0) ptx::mbar_arrive_expect_tx(ptx::smem_addr(&full[b]), kTileBytes);
      const uint32_t peer_full = map_to_rank(ptx::smem_addr(&full[b]), peer);
#pragma unroll
      for (int k = 0; k < kPerThread; ++k) {
        const uint32_t word = t * kPerThread + k;
        st_async_v4(theirs + 16 * word, value_of(i, me, word), peer_full);
      }
      mbar_wait_cluster(ptx::smem_addr(&full[b]), (i >> 1) & 1);
    } else if (mode == 0) {
#pragma unroll
      for (int k = 0; k < kPerThread; ++k) {
        const uint32_t word = t * kPerThread + k;
        st_cluster_v4(theirs + 16 * word, value_of(i, me, word));
      }
      cluster_sync();
    } else {
#pragma unroll
      for (int k = 0; k < kPerThread; ++k) {
        const uint32_t word = t * kPerThread + k;
        const uint4 v = value_of(i, peer, word);  // as if the peer had sent it
        asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};" ::"r"(mine + 16 * word), "r"(v.x), "r"(v.y), "r"(v.z),
                     "r"(v.w)
                     : "memory");
      }
      __syncthreads();
    }
    // Read back what the peer sent (another thread's words: the whole tile is checked, not only our own).
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const uint32_t word = ((t + 37) % kThreads) * kPerThread + k;
      const uint4 got = ld_shared_v4(mine + 16 * word), want = value_of(i, peer, word);
      bad += (got.x != want.x) + (got.y != want.y) + (got.z != want.z) + (got.w != want.w);
    }
    if (mode == 1) mbar_arrive_remote(map_to_rank(ptx::smem_addr(&empty[b]), peer));
    if (mode == 2) __syncthreads();  // buffer b is rewritten two iterations later
  }
  const long long t1 = clock64();
  if (mode == 1) {  // the peer's last arrivals on our barriers must land before either CTA exits
    for (int j = iters - 2 > 0 ? iters - 2 : 0; j < iters; ++j) mbar_wait_cluster(ptx::smem_addr(&empty[j & 1]), (j >> 1) & 1);
  }
  cluster_sync();
  atomicAdd(bad_out, bad);
  if (t == 0) cycles[blockIdx.x] = t1 - t0;
}

}  // namespace

int main(int argc, char** argv) {
  const int mode = argc > 1 ? std::atoi(argv[1]) : 1;
  const int clusters = argc > 2 ? std::atoi(argv[2]) : 1;
  const int iters = argc > 3 ? std::atoi(argv[3]) : 1000;
  if (mode < 0 || mode > 2 || clusters < 1 || iters < 2) {
    std::fprintf(stderr, "usage: dsmem_swap <mode 0|1|2> <clusters >= 1> <iterations >= 2>\n");
    return 2;
  }
  const int ctas = 2 * clusters;
  long long* d_cycles = nullptr;
  unsigned long long* d_bad = nullptr;
  if (cudaMalloc(&d_cycles, ctas * sizeof(long long)) != cudaSuccess || cudaMalloc(&d_bad, sizeof(unsigned long long)) != cudaSuccess) {
    std::fprintf(stderr, "cudaMalloc failed\n");
    return 1;
  }
  for (int rep = 0; rep < 2; ++rep) {  // the first launch warms up; the second is reported
    cudaMemset(d_bad, 0, sizeof(unsigned long long));
    swap_kernel<<<ctas, kThreads>>>(mode, iters, d_cycles, d_bad);
    const cudaError_t err = cudaDeviceSynchronize();
    if (err != cudaSuccess) {
      std::fprintf(stderr, "kernel failed: %s\n", cudaGetErrorString(err));
      return 1;
    }
  }
  std::vector<long long> cycles(ctas);
  unsigned long long bad = 0;
  cudaMemcpy(cycles.data(), d_cycles, ctas * sizeof(long long), cudaMemcpyDeviceToHost);
  cudaMemcpy(&bad, d_bad, sizeof(bad), cudaMemcpyDeviceToHost);
  double sum = 0, mx = 0;
  for (long long c : cycles) {
    sum += static_cast<double>(c) / iters;
    mx = std::max(mx, static_cast<double>(c) / iters);
  }
  std::printf("mode %d clusters %d iters %d: cycles per 16 KB swap mean %.0f max %.0f, wrong values %llu\n", mode,
              clusters, iters, sum / ctas, mx, bad);
  return bad == 0 ? 0 : 1;
}
