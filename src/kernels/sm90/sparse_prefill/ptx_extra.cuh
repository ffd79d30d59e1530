// One-instruction PTX wrappers the sparse prefill needs beyond src/kernels/sm90/ptx.cuh and
// wgmma_ops.cuh: cp.async gathers (16 B, zero-fill), a 32-bit shared load, and WGMMA m64n32k16
// (bf16, both operands from shared memory) for the half-step score tiles.
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

// D[64 x 32] (+)= A[64 x 16] * B[16 x 32]; A and B K-major in shared memory (descriptors).
// Accumulator layout as in wgmma_ops.cuh: d[4j + e] is row 16w + l/4 + 8*(e/2), column 8j + 2*(l%4) + e%2.
__device__ __forceinline__ void wgmma_m64n32k16_ss_bf16(float (&d)[16], uint64_t desc_a, uint64_t desc_b,
                                                        int scale_d) {
  asm volatile(
      "{\n.reg .pred p;\n"
      "setp.ne.b32 p, %18, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, "
      "%16, %17, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
      : "l"(desc_a), "l"(desc_b), "r"(scale_d));
}

}  // namespace flashmla::sm90::sparse_prefill::ptx2
