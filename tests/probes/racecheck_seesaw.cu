// Probe for compute-sanitizer racecheck: the dense decode kernels' consumer barrier sequence
// (decode_dense/kernel.cuh, decode_dense_common/seesaw.cuh) with the WGMMAs, TMA and softmax taken out,
// so that racecheck's verdict on the row-exchange hand-offs can be read on its own, per variant.
//
// One CTA of 384 threads: WG0 idles (the producer in the kernel), WG1 = consumer 0, WG2 = consumer 1.
// Per "chunk", `pairs` iterations of the seesaw exchange: consumer 0 publishes m_A/f_A (row 0..63 of
// half 0) and arrives on P0_READY; consumer 1 syncs on it, reads them, publishes m_B/f_B (half 1),
// arrives on P1_READY, later arrives on P0_FREE; consumer 0 syncs P1_READY and reads half 1; then the
// epilogue row-sum exchange through an mbarrier + a named barrier, as the kernel does.
//
// variant 0: the kernel's sequence as of d9236c9 (racecheck reported RAW hazards on half 1 on the H200
//            when a CTA runs two or more pairs).
// variant 1: + P1_FREE: consumer 0 arrives after reading half 1, consumer 1 syncs on it before it
//            rewrites half 1 (the mirror of P0_FREE).
// variant 2: half 1 double-buffered by pair parity (no new barrier).
// variant 3: the half-1 hand-off through an mbarrier (128 arrivals of consumer 1, consumer 0 waits on
//            the pair's parity) instead of P1_READY.
// + 4: a proxy fence (fence.proxy.async, as publish_p has for the P tile) before each arrive.
//
// Result on the H200 (2026-12-02, compute-sanitizer of CUDA 13.0, chunks 2 x pairs 3, and 1 x 1, 1 x 2):
// variants 0, 1, 2, 4, 5 report RAW hazards on half 1 (written by consumer 1, read by consumer 0) from
// the first pair on, although every read returns the value written (the probe checks); variant 3 is
// clean. The kernels therefore hand P and the row statistics over through mbarriers (seesaw.cuh).
//
// Build and run (on the GPU machine):
//   nvcc -arch=sm_90a -std=c++17 -I src -o build/racecheck_seesaw tests/probes/racecheck_seesaw.cu
//   compute-sanitizer --tool racecheck --racecheck-report all build/racecheck_seesaw <variant> <chunks> <pairs>
// Exit status 0 and "probe ok" when the values read are the values written (the probe checks them).
#include <cstdio>
#include <cstdlib>

#include "kernels/sm90/ptx.cuh"

namespace ptx = flashmla::sm90::ptx;

enum : unsigned { kP0Ready = 1, kP1Ready = 2, kP0Free = 3, kEpi = 4, kP1Free = 7 };

__global__ void __launch_bounds__(384, 1) probe(int variant, int chunks, int pairs, int* bad) {
  __shared__ float row_m[3][64], row_f[3][64], row_l[2][64];
  __shared__ alignas(8) unsigned long long epi_bar, p1_bar;
  const uint32_t epi = static_cast<uint32_t>(__cvta_generic_to_shared(&epi_bar));
  const uint32_t p1 = static_cast<uint32_t>(__cvta_generic_to_shared(&p1_bar));
  const bool fence = (variant & 4) != 0;
  variant &= 3;
  if (threadIdx.x == 0) {
    ptx::mbar_init(epi, 256);
    ptx::mbar_init(p1, 128);
    ptx::fence_barrier_init();
  }
  __syncthreads();
  const int wg = threadIdx.x / 128;
  if (wg == 0) return;
  const int c = wg - 1, t = threadIdx.x % 128;
  const int r = t / 2;  // two threads per row; the even one stores (the kernel: tq == 0 stores)
  const bool writer = (t & 1) == 0;
  int iter = 0, errs = 0;
  for (int ch = 0; ch < chunks; ++ch) {
    for (int i = 0; i < pairs; ++i, ++iter) {
      const float va = 1000.0f * iter + r, vb = -1000.0f * iter - r;
      const int hb = variant == 2 ? 1 + (iter & 1) : 1;  // half 1's slot
      if (c == 0) {
        if (iter > 0) ptx::bar_sync(kP0Free, 256);
        if (writer) {
          ptx::st_shared(static_cast<uint32_t>(__cvta_generic_to_shared(&row_m[0][r])), va);
          ptx::st_shared(static_cast<uint32_t>(__cvta_generic_to_shared(&row_f[0][r])), va + 0.5f);
        }
        if (fence) ptx::fence_proxy_async();
        ptx::bar_arrive(kP0Ready, 256);
        if (variant == 3) {
          ptx::mbar_wait(p1, iter & 1);
        } else {
          ptx::bar_sync(kP1Ready, 256);
        }
        const float m = ptx::ld_shared_f32(static_cast<uint32_t>(__cvta_generic_to_shared(&row_m[hb][r])));
        const float f = ptx::ld_shared_f32(static_cast<uint32_t>(__cvta_generic_to_shared(&row_f[hb][r])));
        errs += (m != vb) + (f != vb + 0.5f);
        if (variant == 1) ptx::bar_arrive(kP1Free, 256);
      } else {
        ptx::bar_sync(kP0Ready, 256);
        const float m = ptx::ld_shared_f32(static_cast<uint32_t>(__cvta_generic_to_shared(&row_m[0][r])));
        const float f = ptx::ld_shared_f32(static_cast<uint32_t>(__cvta_generic_to_shared(&row_f[0][r])));
        errs += (m != va) + (f != va + 0.5f);
        if (variant == 1 && iter > 0) ptx::bar_sync(kP1Free, 256);
        if (writer) {
          ptx::st_shared(static_cast<uint32_t>(__cvta_generic_to_shared(&row_m[hb][r])), vb);
          ptx::st_shared(static_cast<uint32_t>(__cvta_generic_to_shared(&row_f[hb][r])), vb + 0.5f);
        }
        if (fence) ptx::fence_proxy_async();
        if (variant == 3) {
          ptx::mbar_arrive(p1);
        } else {
          ptx::bar_arrive(kP1Ready, 256);
        }
        ptx::bar_arrive(kP0Free, 256);
      }
    }
    // Epilogue: row sums through the mbarrier (one phase per chunk), then the named barrier.
    if (writer) ptx::st_shared(static_cast<uint32_t>(__cvta_generic_to_shared(&row_l[c][r])), 7.0f * ch + c);
    ptx::mbar_arrive(epi);
    ptx::mbar_wait(epi, ch & 1);
    const float l = ptx::ld_shared_f32(static_cast<uint32_t>(__cvta_generic_to_shared(&row_l[1 - c][r])));
    errs += l != 7.0f * ch + (1 - c);
    ptx::bar_sync(kEpi, 256);
  }
  if (c == 0 && iter > 0) ptx::bar_sync(kP0Free, 256);
  if (variant == 1 && c == 1 && iter > 0) ptx::bar_sync(kP1Free, 256);
  if (errs) atomicAdd(bad, errs);
}

int main(int argc, char** argv) {
  const int variant = argc > 1 ? atoi(argv[1]) : 0, chunks = argc > 2 ? atoi(argv[2]) : 2,
            pairs = argc > 3 ? atoi(argv[3]) : 3;
  int* bad = nullptr;
  if (cudaMalloc(&bad, sizeof(int)) != cudaSuccess) return 2;
  cudaMemset(bad, 0, sizeof(int));
  probe<<<1, 384>>>(variant, chunks, pairs, bad);
  int h = -1;
  const cudaError_t e = cudaMemcpy(&h, bad, sizeof(int), cudaMemcpyDeviceToHost);
  printf("variant %d chunks %d pairs %d: %s, %d wrong values\n", variant, chunks, pairs, cudaGetErrorString(e), h);
  if (e == cudaSuccess && h == 0) printf("probe ok\n");
  return e == cudaSuccess && h == 0 ? 0 : 1;
}
