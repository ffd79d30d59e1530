// The gathers of the sparse ping-pong producers, beyond src/kernels/sm90/ptx.cuh: cp.async (16 / 8 B,
// zero-fill) with mbarrier completion, read-only vector loads into registers, the position-valid flag
// store, and one row of a 128B-swizzled tile copied with cp.async.
#pragma once

#include <cstdint>

#include "kernels/sm90/sparse_common/tiles.h"

namespace flashmla::sm90::sparse_common {

// 16 bytes global -> shared, bypassing L1. src_bytes = 0 reads nothing and writes 16 zero bytes (the
// masked-row path: the address is never dereferenced).
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, uint32_t src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}
// 8 bytes global -> shared (.ca: 8-byte copies cannot bypass L1), same zero-fill rule.
__device__ __forceinline__ void cp_async_8(uint32_t dst, const void* src, uint32_t src_bytes) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 8, %2;" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(kPending) : "memory");
}


// Arrives on `bar` once every cp.async this thread has issued so far has landed. .noinc: the arrival
// is one of the barrier's expected count (it does not add one), so the init count includes it.
__device__ __forceinline__ void cp_async_mbar_arrive_noinc(uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];" ::"r"(bar) : "memory");
}

__device__ __forceinline__ void st_shared_u8(uint32_t addr, uint32_t v) {
  asm volatile("st.shared.u8 [%0], %1;" ::"r"(addr), "r"(v) : "memory");
}

// Read-only global loads into registers (the caches are not written while a kernel reads them).
__device__ __forceinline__ uint4 ld_nc_v4(const void* src) {
  uint4 v;
  asm volatile("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(src));
  return v;
}
__device__ __forceinline__ uint2 ld_nc_v2(const void* src) {
  uint2 v;
  asm volatile("ld.global.nc.v2.u32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(src));
  return v;
}
__device__ __forceinline__ uint32_t ld_nc_u32(const void* src) {
  uint32_t v;
  asm volatile("ld.global.nc.u32 %0, [%1];" : "=r"(v) : "l"(src));
  return v;
}
__device__ __forceinline__ uint32_t ld_nc_u8(const void* src) {
  uint16_t v;
  asm volatile("ld.global.nc.u8 %0, [%1];" : "=h"(v) : "l"(src));
  return v;
}

// Byte offset of 16-byte chunk u (0..7) of row `row` in a 128B-swizzled box (rows 128 B apart).
__device__ __forceinline__ uint32_t swizzled(int row, int u) {
  return static_cast<uint32_t>(row * 128 + ((u ^ (row & 7)) << 4));
}

// Chunk `sub` of each of the kBoxes boxes of one 64-row tile row from a contiguous bf16 row: channels
// 8 sub + 64 box .. +7. valid = false writes zeros and reads nothing.
template <int kBoxes>
__device__ __forceinline__ void cp_async_row(uint32_t tile, int row, int sub, const uint16_t* src, bool valid) {
  const uint32_t bytes = valid ? kChunkBytes : 0u;
  const uint32_t dst = tile + swizzled(row, sub);
#pragma unroll
  for (int box = 0; box < kBoxes; ++box) cp_async_16(dst + box * kBoxBytes, src + box * kBoxCols + sub * 8, bytes);
}

}  // namespace flashmla::sm90::sparse_common
