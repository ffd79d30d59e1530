// One-instruction PTX wrappers the sparse prefill needs beyond src/kernels/sm90/ptx.cuh and
// wgmma_ops.cuh: cp.async gathers (16 B, zero-fill) with mbarrier completion, and 8/16/32-bit shared
// accesses for the position-valid flags.
#pragma once

#include <cstdint>

namespace flashmla::sm90::sparse_prefill::ptx2 {

// 16 bytes global -> shared, bypassing L1. src_bytes = 0 reads nothing and writes 16 zero bytes (the
// masked-row path: the address is never dereferenced).
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, uint32_t src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(kPending) : "memory");
}

__device__ __forceinline__ uint32_t ld_shared_u32(uint32_t addr) {
  uint32_t v;
  asm volatile("ld.shared.u32 %0, [%1];" : "=r"(v) : "r"(addr) : "memory");
  return v;
}

// Arrives on `bar` once every cp.async this thread has issued so far has landed. .noinc: the arrival
// is one of the barrier's expected count (it does not add one), so the init count includes it.
__device__ __forceinline__ void cp_async_mbar_arrive_noinc(uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];" ::"r"(bar) : "memory");
}

__device__ __forceinline__ void st_shared_u8(uint32_t addr, uint32_t v) {
  asm volatile("st.shared.u8 [%0], %1;" ::"r"(addr), "r"(v) : "memory");
}
__device__ __forceinline__ uint32_t ld_shared_u16(uint32_t addr) {
  uint16_t v;
  asm volatile("ld.shared.u16 %0, [%1];" : "=h"(v) : "r"(addr) : "memory");
  return v;
}

}  // namespace flashmla::sm90::sparse_prefill::ptx2
